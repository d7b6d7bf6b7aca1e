-- One row per account as of the last cycle: the table the data team and both syncs read. The columns
-- that move with every clock (hours stalled, the clock itself) are computed here, so the journey's state
-- is rebuilt only for the accounts it changed for (int_account_journeys_evaluated).
{#- Hourly, only the accounts whose journey state was rebuilt since this mart's last build are rebuilt
    (macros/account_scope.sql); the clock's columns (hours_stalled, as_of) are then set on every row. -#}
{%- set hours_stalled -%}
    cast(
        case when stalled_since is not null then {{ round_double(
            seconds_between('stalled_since', as_of()) ~ ' / 3600.0', 1) }} end as double
    )
{%- endset -%}
{%- set scoped = account_scoped_downstream(
    roots=[ref('int_account_journeys_evaluated')],
    clock_columns={'hours_stalled': hours_stalled, 'as_of': as_of()},
) %}

with journeys as (
    select * from {{ ref('int_account_journeys_evaluated') }}
    where {{ in_account_scope(scoped.scope) }}
),

final as (
    select
        account_id,
        company_name,
        primary_user_id,
        signup_at,
        plan_tier,
        cast(mrr as double) as mrr,
        cast(arr as double) as arr,
        employees,
        industry,
        country,
        source,
        track,
        track_source,
        cast(track_confidence as double) as track_confidence,
        track_reason,
        cast(icp_score as double) as icp_score,
        lifecycle_stage,
        current_step,
        cast(steps_completed as integer) as steps_completed,
        cast(steps_total as integer) as steps_total,
        activated_at,
        stalled_since,
        stall_step,
        {{ hours_stalled }} as hours_stalled,
        first_stalled_at,
        checkpoint_at,
        cast(recovery_attempts as integer) as recovery_attempts,
        last_recovery_at,
        win_back_at,
        suppression_reason,
        suppressed_at,
        email_suppressed,
        unsubscribed_at,
        csm_owner,
        holdout,
        upgraded_at,
        last_activity_at,
        {{ as_of() }} as as_of
    from journeys
)

select * from final
{{ account_scope_marker(scoped) }}
