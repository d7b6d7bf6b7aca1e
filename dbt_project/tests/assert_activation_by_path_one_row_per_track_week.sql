-- activation_by_path has exactly one row per track and signup week.
select
    track,
    signup_week,
    count(*) as n
from {{ ref('activation_by_path') }}
group by track, signup_week
having count(*) > 1
