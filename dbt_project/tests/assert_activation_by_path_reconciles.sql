-- activation_by_path: one population per row and columns that reconcile. Every count is a part of the
-- population it is a share of (activated_within_14d <= eligible_accounts <= accounts, recovered <= stalled
-- <= accounts), each rate is its count over that population, window_status follows the counts, and the
-- weeks add up to the state mart (every account in exactly one row, eligible ones as holdout_lift counts
-- them). Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'activation_by_path'}}}) }}

with by_path as (
    select * from {{ ref('activation_by_path') }}
),

states as (
    select
        count(*) as accounts,
        count(*) filter (where signup_at + to_days({{ var('checkpoint_day') }}) <= as_of) as eligible_accounts
    from {{ ref('customer_onboarding_state') }}
),

row_checks as (
    select
        track,
        signup_week,
        'eligible_accounts > accounts' as broken
    from by_path
    where eligible_accounts > accounts
    union all
    select
        track,
        signup_week,
        'activated_within_14d > eligible_accounts' as broken
    from by_path
    where activated_within_14d > eligible_accounts
    union all
    select
        track,
        signup_week,
        'recovered > stalled or stalled > accounts' as broken
    from by_path
    where recovered > stalled or stalled > accounts
    union all
    select
        track,
        signup_week,
        'recovered_after_checkpoint > eligible accounts not activated within 14 days' as broken
    from by_path
    where recovered_after_checkpoint > eligible_accounts - activated_within_14d
    union all
    select
        track,
        signup_week,
        'activation_rate is not activated_within_14d / eligible_accounts' as broken
    from by_path
    where
        (eligible_accounts = 0 and activation_rate is not null)
        or (
            eligible_accounts > 0
            and abs(activation_rate - activated_within_14d / eligible_accounts) > 0.00005
        )
    union all
    select
        track,
        signup_week,
        'stall_rate is not stalled / accounts' as broken
    from by_path
    where abs(stall_rate - stalled / accounts) > 0.00005
    union all
    select
        track,
        signup_week,
        'median_hours_to_activation without activated_within_14d, or the reverse' as broken
    from by_path
    where
        (activated_within_14d = 0) <> (median_hours_to_activation is null)
        or median_hours_to_activation > 24 * {{ var('checkpoint_day') }}
    union all
    select
        track,
        signup_week,
        'window_status does not follow eligible_accounts' as broken
    from by_path
    where window_status <> case
        when eligible_accounts = accounts then 'closed' when eligible_accounts > 0 then 'partial' else 'open'
    end
),

total_checks as (
    select
        null as track,
        null as signup_week,
        'the weeks do not add up to the state mart' as broken
    from states
    where
        states.accounts <> (select coalesce(sum(by_path.accounts), 0) from by_path)
        or states.eligible_accounts <> (select coalesce(sum(by_path.eligible_accounts), 0) from by_path)
)

select * from row_checks
union all
select * from total_checks
