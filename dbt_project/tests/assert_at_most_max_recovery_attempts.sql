-- At most max_recovery_attempts recovery triggers per account, and never an attempt number above it.
select
    account_id,
    count(*) as attempts,
    max(attempt) as highest
from {{ ref('onboarding_triggers') }}
where kind = 'recovery'
group by account_id
having count(*) > {{ var('max_recovery_attempts') }} or max(attempt) > {{ var('max_recovery_attempts') }}
