-- One row per account: what the CRM (HubSpot) keeps about it and its primary contact.
-- The company's domain is the one the enrichment file knows, else the primary contact's e-mail
-- domain unless it is a free-mail provider (seeds/free_email_domains.csv): a gmail.com "company"
-- would match every other gmail user's record.

{#- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose journey state was rebuilt
    (the state mart is its projection), whose events or traits changed (the enrichment's inputs), and those
    whose primary contact's identify traits changed; as_of is then set on every row. -#}
{%- set scoped = account_scoped_downstream(
    roots=[ref('int_account_journeys_evaluated')],
    also=[
        "select journeys.account_id from " ~ ref('int_account_journeys_evaluated') ~ " as journeys inner join "
        ~ ref('int_users_identified') ~ " as people on journeys.primary_user_id = people.user_id"
        ~ " where people._batch_as_of > __scope_since__",
    ],
    clock_columns={'as_of': as_of()},
) %}

with states as (
    select * from {{ ref('customer_onboarding_state') }}
    where {{ in_account_scope(scoped.scope) }}
),

enriched as (
    select
        account_id,
        domain
    from {{ ref('int_accounts_enriched') }}
    where {{ in_account_scope(scoped.scope) }}
),

people as (
    select
        user_id,
        email,
        person_name,
        title
    from {{ ref('int_users_identified') }}
),

free_mail as (
    select lower(domain) as domain from {{ ref('free_email_domains') }}
),

contacts as (
    select
        user_id,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(person_name), '') as person_name,
        nullif(trim(title), '') as job_title,
        nullif(split_part(lower(trim(email)), '@', 2), '') as email_domain
    from people
),

final as (
    select
        states.account_id,
        states.company_name,
        coalesce(
            nullif(lower(trim(enriched.domain)), ''),
            case
                when contacts.email_domain not in (select free_mail.domain from free_mail)
                    then contacts.email_domain
            end
        ) as domain,
        states.primary_user_id as person_id,
        contacts.email,
        case
            when contacts.person_name like '% %'
                then split_part(contacts.person_name, ' ', 1)
            else contacts.person_name
        end as first_name,
        case
            when contacts.person_name like '% %'
                then trim(substr(contacts.person_name, instr(contacts.person_name, ' ') + 1))
        end as last_name,
        contacts.job_title,
        states.track,
        states.lifecycle_stage,
        states.current_step,
        states.csm_owner,
        states.recovery_attempts,
        states.plan_tier,
        states.signup_at,
        states.activated_at,
        states.as_of
    from states
    left join enriched on states.account_id = enriched.account_id
    left join contacts on states.primary_user_id = contacts.user_id
)

select * from final
{{ account_scope_marker(scoped) }}
