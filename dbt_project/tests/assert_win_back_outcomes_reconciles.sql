-- win_back_outcomes: every account that reached win-back has exactly one outcome, so activated_after +
-- suppressed_after + still_open = win_back_accounts; the rate is activated_after / win_back_accounts; the
-- arms add up to the state mart's win-back accounts. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'win_back_outcomes'}}}) }}

select
    track,
    arm,
    'the outcomes do not add up to win_back_accounts' as broken
from {{ ref('win_back_outcomes') }}
where activated_after + suppressed_after + still_open <> win_back_accounts
union all
select
    track,
    arm,
    'win_back_rate is not activated_after / win_back_accounts' as broken
from {{ ref('win_back_outcomes') }}
where abs(win_back_rate - activated_after / win_back_accounts) > 1e-9
union all
select
    null as track,
    null as arm,
    'the rows do not add up to the state mart' as broken
where
    (
        select count(*) from {{ ref('customer_onboarding_state') }}
        where win_back_at is not null
    )
    <> (select coalesce(sum(win_back_accounts), 0) from {{ ref('win_back_outcomes') }})
