-- ROI of the onboarding automation per track (and 'all'), by the seed's formula:
--   (new customers per year x activation lift x ARPU) + (CSM hours saved per year x loaded hourly cost)
-- The lift is MEASURED (holdout_lift: treated minus holdout 14-day activation, with its interval),
-- never assumed. Assumptions are vars in dbt_project.yml (roi_*): new customers per year (null =
-- this warehouse's signup rate x 365), ARPU (null = the mean ARR of the track's paying accounts),
-- CSM hours saved per weekly cohort and the loaded hourly cost, and the tooling cost per year.
-- The 'all' row uses the pooled lift; tooling is charged on the 'all' row only.

with lift as (
    select * from {{ ref('holdout_lift') }}
),

states as (
    select track, signup_at, arr, as_of from {{ ref('customer_onboarding_state') }}
),

observed as (
    select
        coalesce(track, 'all') as track,
        count(*) as accounts,
        avg(arr) filter (where arr > 0) as mean_paying_arr,
        greatest(epoch(max(as_of) - min(signup_at)) / 86400.0, 1.0) as observed_days
    from states
    group by grouping sets ((track), ())
),

totals as (
    select accounts as all_accounts, observed_days from observed where track = 'all'
),

assumptions as (
    select
        observed.track,
        observed.accounts / totals.all_accounts as signup_share,
        {% if var('roi_new_customers_per_year') is none %}
        observed.accounts / totals.observed_days * 365.0
        {% else %}
        {{ var('roi_new_customers_per_year') }} * observed.accounts / totals.all_accounts
        {% endif %} as new_customers_per_year,
        {% if var('roi_arpu') is none %}
        coalesce(observed.mean_paying_arr, 0)
        {% else %}
        {{ var('roi_arpu') }}
        {% endif %} as arpu,
        {{ var('roi_csm_hours_saved_per_cohort') }} * {{ var('roi_cohorts_per_year') }}
            * observed.accounts / totals.all_accounts as csm_hours_saved_per_year,
        {{ var('roi_loaded_hourly_cost') }} as loaded_hourly_cost,
        case when observed.track = 'all' then {{ var('roi_tooling_cost_per_year') }} else 0 end
            as tooling_cost_per_year
    from observed
    cross join totals
),

final as (
    select
        assumptions.track,
        assumptions.new_customers_per_year,
        lift.lift as activation_lift,
        lift.lift_ci_low as activation_lift_ci_low,
        lift.lift_ci_high as activation_lift_ci_high,
        lift.is_significant as is_lift_significant,
        assumptions.arpu,
        assumptions.new_customers_per_year * lift.lift * assumptions.arpu as activation_value,
        assumptions.new_customers_per_year * lift.lift_ci_low * assumptions.arpu as activation_value_ci_low,
        assumptions.new_customers_per_year * lift.lift_ci_high * assumptions.arpu as activation_value_ci_high,
        assumptions.csm_hours_saved_per_year,
        assumptions.loaded_hourly_cost,
        assumptions.csm_hours_saved_per_year * assumptions.loaded_hourly_cost as csm_value,
        assumptions.tooling_cost_per_year,
        lift.as_of
    from assumptions
    inner join lift on assumptions.track = lift.track
)

select
    cast(track as varchar) as track,
    cast(new_customers_per_year as double) as new_customers_per_year,
    cast(activation_lift as double) as activation_lift,
    cast(activation_lift_ci_low as double) as activation_lift_ci_low,
    cast(activation_lift_ci_high as double) as activation_lift_ci_high,
    is_lift_significant,
    cast(arpu as double) as arpu,
    cast(activation_value as double) as activation_value,
    cast(activation_value_ci_low as double) as activation_value_ci_low,
    cast(activation_value_ci_high as double) as activation_value_ci_high,
    cast(csm_hours_saved_per_year as double) as csm_hours_saved_per_year,
    cast(loaded_hourly_cost as double) as loaded_hourly_cost,
    cast(csm_value as double) as csm_value,
    cast(tooling_cost_per_year as double) as tooling_cost_per_year,
    cast(activation_value + csm_value as double) as gross_value,
    cast(activation_value + csm_value - tooling_cost_per_year as double) as net_value,
    cast(activation_value_ci_low + csm_value - tooling_cost_per_year as double) as net_value_ci_low,
    cast(activation_value_ci_high + csm_value - tooling_cost_per_year as double) as net_value_ci_high,
    as_of
from final
