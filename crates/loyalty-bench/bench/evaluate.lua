-- POST /v1/checkout/evaluate over 10,000 members (m0 … m9999), one per request in turn.
local counter = 0
local members = 10000
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-admin-key-0123456789"
local tpl = '{"member_id":"m%d","shipping_minor":800,"points_to_redeem":100,"lines":[{"sku":"A","category":"shoes","quantity":2,"unit_price_minor":12345},{"sku":"B","quantity":1,"unit_price_minor":999}]}'
function init(args)
  counter = math.random(0, members - 1)
end
request = function()
  counter = (counter + 1) % members
  return wrk.format(nil, "/v1/checkout/evaluate", nil, string.format(tpl, counter))
end
response = function(status, headers, body)
  if status ~= 200 then
    print("status " .. status .. ": " .. body)
  end
end
