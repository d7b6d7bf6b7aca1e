-- onboarding_roi: one population per row (the track's signups). The tracks add up to 'all' (accounts, new
-- customers, CSM hours); an observed ARPU is averaged over the row's own signups (arpu_accounts <= accounts)
-- and, measured on the same basis on every row, arpu x arpu_accounts of the tracks adds up to that of 'all'
-- (customers and ARPU from the same accounts); dollars follow the lift only when its interval excludes zero;
-- gross and net are the sums of their line items. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'onboarding_roi'}}}) }}

with roi as (
    select * from {{ ref('onboarding_roi') }}
),

tracks as (
    select
        sum(accounts) as accounts,
        sum(new_customers_per_year) as new_customers_per_year,
        sum(csm_hours_saved_per_year) as csm_hours_saved_per_year,
        sum(arpu * arpu_accounts) as arr,
        count(distinct arpu_basis) as bases
    from roi
    where track <> 'all'
)

select
    roi.track,
    'the tracks do not add up to all' as broken
from roi, tracks
where
    roi.track = 'all' and (
        roi.accounts <> tracks.accounts
        or abs(roi.new_customers_per_year - tracks.new_customers_per_year) > 1e-6
        or abs(roi.csm_hours_saved_per_year - tracks.csm_hours_saved_per_year) > 1e-6
        or (
            roi.arpu_accounts is not null
            and tracks.bases = 1
            and abs(roi.arpu * roi.arpu_accounts - tracks.arr) > 1e-6 * greatest(1, tracks.arr)
        )
    )
union all
select
    track,
    'arpu averaged over accounts outside the row''s population' as broken
from roi
where arpu_accounts > accounts
union all
select
    track,
    'dollars for a lift whose interval contains zero, or none for one that excludes it' as broken
from roi
where
    is_lift_significant <> coalesce(activation_lift_ci_low > 0 or activation_lift_ci_high < 0, false)
    or is_lift_significant <> (activation_value is not null)
    or (activation_value is null) <> (gross_value is null)
    or (activation_value is null) <> (net_value is null)
union all
select
    track,
    'activation_value is not new_customers_per_year x lift x arpu inside its interval' as broken
from roi
where
    abs(activation_value - new_customers_per_year * activation_lift * arpu) > 0.01
    or activation_value < activation_value_ci_low - 0.01 or activation_value > activation_value_ci_high + 0.01
union all
select
    track,
    'a line item does not add up' as broken
from roi
where
    abs(csm_value - csm_hours_saved_per_year * loaded_hourly_cost) > 0.01
    or abs(gross_value - (activation_value + csm_value)) > 0.01
    or abs(net_value - (gross_value - tooling_cost_per_year)) > 0.01
union all
select
    track,
    'tooling charged on a track row' as broken
from roi
where track <> 'all' and tooling_cost_per_year <> 0
