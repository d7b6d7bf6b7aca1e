-- The specific recovery offer (seeds/recovery_offers.csv: a call, a resource or a trial extension) for
-- every account that is or was stuck, for each recovery attempt it can get (1..max_recovery_attempts):
-- the onboarding_recovery trigger carries its attempt's offer, the CSM's alert and draft propose the
-- next one. The stall point is the step the account stalled on, else its current step.
-- Where several seed rows match, the most specific wins: an exact track, then an exact step, then an
-- exact attempt ('*' = any).

{#- Hourly, only the accounts whose journey state was rebuilt since this model's last build
    (macros/account_scope.sql); an account that activated loses its rows. -#}
{%- set scoped = account_scoped_downstream(roots=[ref('int_account_journeys_evaluated')]) %}

with journeys as (
    select
        account_id,
        track,
        coalesce(stall_step, current_step) as stall_point
    from {{ ref('int_account_journeys_evaluated') }}
    where
        activated_at is null and (stall_step is not null or recovery_attempts > 0)
        and {{ in_account_scope(scoped.scope) }}
),

attempts as (
    select {{ integer_range_rows(1, var('max_recovery_attempts') ~ ' + 1') }} as attempt
),

offers as (
    select * from {{ ref('recovery_offers') }}
),

chosen as (
    select
        journeys.account_id,
        attempts.attempt,
        any_value(journeys.track) as track,
        any_value(journeys.stall_point) as stall_point,
        min_by(
            {{ struct_of([
                ('offer', 'offers.offer'),
                ('offer_detail', 'offers.offer_detail'),
                ('trial_extension_days', 'offers.trial_extension_days'),
            ]) }},
            cast(offers.track = '*' as integer) * 4 + cast(offers.stall_step = '*' as integer) * 2
            + cast(offers.attempt = '*' as integer)
        ) as picked
    from journeys
    cross join attempts
    inner join offers
        on
            offers.track in ('*', journeys.track)
            and offers.stall_step in ('*', journeys.stall_point)
            and offers.attempt in ('*', cast(attempts.attempt as string))
    group by journeys.account_id, attempts.attempt
),

final as (
    select
        chosen.account_id,
        chosen.attempt,
        chosen.track,
        chosen.stall_point,
        chosen.picked.offer,
        chosen.picked.offer_detail,
        chosen.picked.trial_extension_days
    from chosen
)

select * from final
{{ account_scope_marker(scoped) }}
