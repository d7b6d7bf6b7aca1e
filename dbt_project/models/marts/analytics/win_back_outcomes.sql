-- Win-back outcomes per track and arm: accounts that used up their recovery attempts without
-- activating reach win-back (win_back_at); what happened next at as_of, one outcome per account:
-- activated after all (even if suppressed later), suppressed without activating (cancelled, deleted,
-- payment, trial), or still open. The three add up to win_back_accounts. The holdout reaches the same
-- calendar point without e-mails, so its row is the baseline.

with states as (
    select
        track,
        holdout,
        win_back_at,
        activated_at,
        suppressed_at,
        as_of
    from {{ ref('customer_onboarding_state') }}
    where win_back_at is not null
),

final as (
    select
        track,
        case when holdout then 'holdout' else 'treated' end as arm,
        count(*) as win_back_accounts,
        count(*) filter (where activated_at > win_back_at) as activated_after,
        count(*) filter (where suppressed_at > win_back_at and activated_at is null) as suppressed_after,
        count(*) filter (
            where activated_at is null and (suppressed_at is null or suppressed_at <= win_back_at)
        )
            as still_open,
        median({{ seconds_between('win_back_at', 'activated_at') }} / 86400.0) filter (
            where activated_at > win_back_at
        )
            as median_days_to_activation,
        max(as_of) as as_of
    from states
    group by track, holdout
)

select
    cast(track as string) as track,
    cast(arm as string) as arm,
    cast(win_back_accounts as bigint) as win_back_accounts,
    cast(activated_after as bigint) as activated_after,
    cast(suppressed_after as bigint) as suppressed_after,
    cast(still_open as bigint) as still_open,
    cast(activated_after / win_back_accounts as double) as win_back_rate,
    cast(median_days_to_activation as double) as median_days_to_activation,
    as_of
from final
