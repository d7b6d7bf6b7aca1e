-- One row per primary contact: the person attributes the Customer.io sync diffs and sends, so a
-- campaign's exit condition ("still relevant?") can read lifecycle_stage and activated_at.
-- Teammates never appear here.

with states as (
    select * from {{ ref('customer_onboarding_state') }}
    where primary_user_id is not null
),

content as (
    select * from {{ ref('int_accounts_content_personalised') }}
),

people as (
    select
        user_id,
        email
    from {{ ref('int_users_identified') }}
),

final as (
    select
        states.primary_user_id as person_id,
        states.account_id,
        people.email,
        states.company_name,
        states.track as onboarding_track,
        states.lifecycle_stage,
        {{ epoch_seconds_bigint('states.activated_at') }} as activated_at,
        states.current_step,
        states.csm_owner,
        states.plan_tier,
        {{ epoch_seconds_bigint('states.signup_at') }} as signup_at,
        states.recovery_attempts,
        states.suppression_reason,
        states.unsubscribed_at is not null as unsubscribed,
        states.holdout,
        -- personalised content: the library the education e-mails link, and the nurture tags of the track
        content.library_url,
        content.tag_community,
        content.tag_newsletter,
        content.tag_product_updates,
        states.as_of
    from states
    left join people on states.primary_user_id = people.user_id
    left join content on states.account_id = content.account_id
    -- A person who signed up two accounts is one Customer.io person: the latest signup speaks.
    qualify
        row_number()
            over (partition by states.primary_user_id order by states.signup_at desc, states.account_id asc)
        = 1
)

select * from final
