-- ROI of the onboarding automation per track (and 'all'), by the onboarding playbook's formula:
--   (new customers/yr x activation lift x ARPU) + (CSM hours saved/yr x loaded hourly cost) - tooling
-- One population per row: the track's signups (every account, free plans included), the population
-- the lift is measured on. new_customers_per_year is that population per year and arpu is the retained
-- ARR per signup of that same population (an account suppressed at as_of - cancelled, deleted, payment
-- failed, trial expired - counts with 0), so customers x ARPU is the population's retained ARR per
-- year, never signups x the ARR of paying accounts only. The playbook counts only "customers retained past
-- month 3": once some of the track's signups are roi_arpu_retention_days old, ARPU is measured on them
-- alone (arpu_basis says which); a younger warehouse uses every signup's state at as_of.
-- The lift is MEASURED (holdout_lift: treated minus holdout 14-day activation, with its 95% interval),
-- never assumed, and it is turned into dollars only where its interval excludes zero; otherwise the
-- dollar columns are null and lift_status says 'not significant' (or 'not measured' while a track has no
-- holdout account with a closed window).
-- Assumptions are the roi_* vars of dbt_project.yml. CSM hours are split over the tracks a CSM works
-- (not in alert_unrouted_tracks) by signup share; tooling is charged on the 'all' row only, which uses
-- the pooled lift.
-- Arithmetic: every figure is a double (the vars cast to double, no decimal literal left to steer it), and
-- the dollar columns are rounded to cents at the end with round_double (DuckDB's rounding of a double), so
-- both engines compute the same values to the last bit (Spark would otherwise keep decimal arithmetic for
-- decimal literals and round a double's text half up).

{% set arpu_var = var('roi_arpu') %}
{% set csm_hours_var = var('roi_csm_hours_saved_per_year') %}
{% set unrouted = var('alert_unrouted_tracks') %}

with lift as (
    select * from {{ ref('holdout_lift') }}
),

states as (
    select
        track,
        signup_at,
        case when lifecycle_stage = 'suppressed' then 0 else coalesce(arr, 0) end as retained_arr,
        signup_at + {{ interval_days(var('roi_arpu_retention_days')) }} <= as_of as is_mature,
        as_of
    from {{ ref('customer_onboarding_state') }}
),

observed as (
    select
        coalesce(track, 'all') as track,
        count(*) as accounts,
        avg(retained_arr) as retained_arr_per_signup,
        count(*) filter (where is_mature) as mature_accounts,
        avg(retained_arr) filter (where is_mature) as mature_arr_per_signup,
        count(*) filter (where track not in {{ sql_list(unrouted) }}) as csm_accounts,
        greatest({{ seconds_between('min(signup_at)', 'max(as_of)') }} / 86400.0, 1.0) as observed_days,
        max(as_of) as as_of
    from states
    group by rollup(track)
),

totals as (
    select
        accounts as all_accounts,
        csm_accounts as all_csm_accounts,
        observed_days
    from observed
    where track = 'all'
),

assumptions as (
    select
        observed.track,
        observed.accounts,
        observed.as_of,
        totals.observed_days,
        {% if var('roi_new_customers_per_year') is none %}
        observed.accounts / totals.observed_days * 365.0
        {% else %}
        cast({{ var('roi_new_customers_per_year') }} as double) * observed.accounts / totals.all_accounts
        {% endif %} as new_customers_per_year,
        {% if arpu_var is none %}
        case
            when observed.mature_accounts > 0
                then observed.mature_arr_per_signup
            else observed.retained_arr_per_signup
        end as arpu,
        case when observed.mature_accounts > 0 then observed.mature_accounts else observed.accounts end
            as arpu_accounts,
        case
            when observed.mature_accounts > 0
                then 'signups past day {{ var("roi_arpu_retention_days") }}'
            else 'all signups at as_of'
        end
            as arpu_basis,
        {% else %}
        cast({{ arpu_var }} as double) as arpu,
        null as arpu_accounts,
        'var roi_arpu' as arpu_basis,
        {% endif %}
        {% if csm_hours_var is none %}
        cast({{ var('roi_csm_hours_saved_per_cohort') }} as double) * {{ var('roi_cohorts_per_year') }}
        {% else %}
        cast({{ csm_hours_var }} as double)
        {% endif %} * coalesce(observed.csm_accounts / nullif(totals.all_csm_accounts, 0), 0)
            as csm_hours_saved_per_year,
        cast({{ var('roi_loaded_hourly_cost') }} as double) as loaded_hourly_cost,
        case
            when observed.track = 'all' then cast({{ var('roi_tooling_cost_per_year') }} as double) else 0
        end as tooling_cost_per_year
    from observed
    cross join totals
),

measured as (
    select
        assumptions.*,
        lift.lift,
        lift.lift_ci_low,
        lift.lift_ci_high,
        case
            when lift.lift is null then 'not measured'
            when lift.lift_ci_low > 0 then 'positive'
            when lift.lift_ci_high < 0 then 'negative'
            else 'not significant'
        end as lift_status
    from assumptions
    left join lift on assumptions.track = lift.track
),

valued as (
    select
        *,
        lift_status in ('positive', 'negative') as is_lift_significant,
        case when lift_status in ('positive', 'negative') then new_customers_per_year * lift * arpu end
            as activation_value,
        case when lift_status in ('positive', 'negative') then new_customers_per_year * lift_ci_low * arpu end
            as activation_value_ci_low,
        case
            when lift_status in ('positive', 'negative') then new_customers_per_year * lift_ci_high * arpu
        end
            as activation_value_ci_high,
        csm_hours_saved_per_year * loaded_hourly_cost as csm_value
    from measured
)

select
    cast(track as string) as track,
    cast(accounts as bigint) as accounts,
    cast(observed_days as double) as observed_days,
    cast(new_customers_per_year as double) as new_customers_per_year,
    cast(arpu as double) as arpu,
    cast(arpu_basis as string) as arpu_basis,
    cast(arpu_accounts as bigint) as arpu_accounts,
    cast(lift as double) as activation_lift,
    cast(lift_ci_low as double) as activation_lift_ci_low,
    cast(lift_ci_high as double) as activation_lift_ci_high,
    cast(lift_status as string) as lift_status,
    is_lift_significant,
    {{ round_double('activation_value', 2) }} as activation_value,
    {{ round_double('activation_value_ci_low', 2) }} as activation_value_ci_low,
    {{ round_double('activation_value_ci_high', 2) }} as activation_value_ci_high,
    cast(csm_hours_saved_per_year as double) as csm_hours_saved_per_year,
    cast(loaded_hourly_cost as double) as loaded_hourly_cost,
    {{ round_double('csm_value', 2) }} as csm_value,
    cast(tooling_cost_per_year as double) as tooling_cost_per_year,
    {{ round_double('activation_value + csm_value', 2) }} as gross_value,
    {{ round_double('activation_value + csm_value - tooling_cost_per_year', 2) }} as net_value,
    {{ round_double('activation_value_ci_low + csm_value - tooling_cost_per_year', 2) }} as net_value_ci_low,
    {{ round_double('activation_value_ci_high + csm_value - tooling_cost_per_year', 2) }}
        as net_value_ci_high,
    as_of
from valued
order by case track when 'high_touch' then 1 when 'standard' then 2 when 'self_serve' then 3 else 4 end
