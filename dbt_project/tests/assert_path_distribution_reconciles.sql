-- path_distribution: each row is the track's part of its week's signups. holdout_accounts <= accounts <=
-- week_accounts, the tracks of a week add up to week_accounts and their shares to 1, every account is counted
-- once, and is_partial_week is the same for every track of a week. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'path_distribution'}}}) }}

with dist as (
    select * from {{ ref('path_distribution') }}
),

weeks as (
    select
        signup_week,
        sum(accounts) as accounts,
        min(week_accounts) as week_accounts_min,
        max(week_accounts) as week_accounts_max,
        sum(share) as share,
        count(distinct is_partial_week) as partial_flags
    from dist
    group by signup_week
)

select
    signup_week,
    track,
    'holdout_accounts > accounts or accounts > week_accounts' as broken
from dist
where holdout_accounts > accounts or accounts > week_accounts
union all
select
    signup_week,
    null as track,
    'the tracks of the week do not add up to week_accounts' as broken
from weeks
where accounts <> week_accounts_min or week_accounts_min <> week_accounts_max
union all
select
    signup_week,
    null as track,
    'the shares of the week do not sum to 1' as broken
from weeks
where abs(share - 1) > 1e-9
union all
select
    signup_week,
    null as track,
    'is_partial_week differs between tracks of one week' as broken
from weeks
where partial_flags > 1
union all
select
    null as signup_week,
    null as track,
    'the weeks do not add up to the state mart' as broken
where
    (select count(*) from {{ ref('customer_onboarding_state') }})
    <> (select coalesce(sum(accounts), 0) from dist)
