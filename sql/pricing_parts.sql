-- pricing_parts: the pieces of sql/pricing.sql that tokenledger puts in only when the data or
-- the config have them (each section starts with a line `-- section: NAME`).
-- section: discount_joins
  -- a discount of the entity wins over one of its provider
  LEFT JOIN discounts de
    ON de.served_entity_name = r.served_entity_name
   AND (de.provider IS NULL OR de.provider = r.provider)
   AND r.priced_at >= de.valid_from
   AND (de.valid_to IS NULL OR r.priced_at < de.valid_to)
  LEFT JOIN discounts dp
    ON dp.served_entity_name IS NULL
   AND dp.provider = r.provider
   AND r.priced_at >= dp.valid_from
   AND (dp.valid_to IS NULL OR r.priced_at < dp.valid_to)
-- section: part_checks
        OR (r.cache_creation_1h_input_tokens > 0 AND p.cache_write_1h_per_token IS NULL)
        OR (r.input_audio_tokens > 0 AND p.input_audio_extra_per_token IS NULL)
        OR (r.output_audio_tokens > 0 AND p.output_audio_extra_per_token IS NULL)
        OR (r.web_search_requests > 0 AND p.web_search_per_request IS NULL)
-- section: part_terms
      , r.cache_creation_1h_input_tokens, p.cache_write_1h_per_token
      , r.input_audio_tokens, p.input_audio_extra_per_token
      , r.output_audio_tokens, p.output_audio_extra_per_token
      , r.web_search_requests, p.web_search_per_request
-- section: reasoning_term
      , COALESCE(r.reasoning_tokens, 0), p.reasoning_extra_per_token
-- section: fee_term
      , r.requests, p.request_fee
