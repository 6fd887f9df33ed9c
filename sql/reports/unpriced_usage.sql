-- description: Usage without a known cost, by served entity: requests without a price in force (add them to prices.csv) and successes logged without token counts (unmetered: fix the gateway's usage logging)
-- param: from 1970-01-01
-- param: to 9999-12-31
SELECT served_entity_name, min("date") AS first_day, max("date") AS last_day,
       sum(unpriced_requests) AS requests, sum(unpriced_tokens) AS tokens,
       sum(unmetered_requests) AS unmetered_requests
FROM usage_daily
WHERE (unpriced_requests > 0 OR unmetered_requests > 0) AND "date" BETWEEN DATE {{from}} AND DATE {{to}}
GROUP BY served_entity_name
ORDER BY tokens DESC, unmetered_requests DESC, served_entity_name
