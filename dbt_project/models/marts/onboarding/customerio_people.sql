-- One row per primary contact: the person attributes the Customer.io sync diffs and sends, so a
-- campaign's exit condition ("still relevant?") can read lifecycle_stage and activated_at.
-- Teammates never appear here.

{#- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose journey state was rebuilt
    (the state mart and the personalised content follow it), whose events or traits changed, whose primary
    contact's e-mail changed, and, since a person is one row whichever of their accounts speaks, every account
    of a person one of those accounts has or had (the stored rows); as_of is then set on every row. -#}
{%- set journeys = ref('int_account_journeys_evaluated') -%}
{%- set touched = account_scoped_downstream(
    roots=[journeys],
    also=[
        "select journeys.account_id from " ~ journeys ~ " as journeys inner join "
        ~ ref('int_users_identified') ~ " as people on journeys.primary_user_id = people.user_id"
        ~ " where people._batch_as_of > __scope_since__",
    ],
    clock_columns={'as_of': as_of()},
) -%}
{%- set scoped = touched -%}
{%- if touched.scope is not none -%}
    {%- set persons = "select primary_user_id from " ~ journeys ~ " where account_id in (" ~ touched.scope ~ ")"
        ~ " union select person_id from " ~ this ~ " where account_id in (" ~ touched.scope ~ ")" -%}
    {%- set scoped = {
        'scope': "select account_id from " ~ journeys ~ " where account_id in (" ~ touched.scope ~ ")"
        ~ " or primary_user_id in (" ~ persons ~ ")",
        'clock_columns': touched.clock_columns,
    } -%}
{%- endif %}

with states as (
    select * from {{ ref('customer_onboarding_state') }}
    where primary_user_id is not null and {{ in_account_scope(scoped.scope) }}
),

content as (
    select * from {{ ref('int_accounts_content_personalised') }}
    where {{ in_account_scope(scoped.scope) }}
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
{{ account_scope_marker(scoped) }}
