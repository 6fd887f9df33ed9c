-- description: Usage without a price in force, by served entity: what to add to prices.csv
-- param: from 1970-01-01
-- param: to 9999-12-31
SELECT served_entity_name, min("date") AS first_day, max("date") AS last_day,
       sum(unpriced_requests) AS requests, sum(unpriced_tokens) AS tokens
FROM usage_daily
WHERE unpriced_requests > 0 AND "date" BETWEEN DATE {{from}} AND DATE {{to}}
GROUP BY served_entity_name
ORDER BY tokens DESC, served_entity_name
