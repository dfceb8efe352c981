# Messages of src/public/badges (and its siblings); keys prefixed `badges-`.
# The whole page's badge: "status | Partial outage".
badges-status = status
badges-unknown = unknown
badges-no-data = no data
# "uptime 30d | 99.91%".
badges-uptime = uptime { $window }
badges-window-24h = 24h
badges-window-7d = 7d
badges-window-30d = 30d
badges-window-90d = 90d
# "response time 24h | 76 ms" (the median).
badges-response-time = response time 24h
# The embeddable widget (src/public/widget); keys prefixed `widget-`.
widget-document-title = { $title }: { $status }
widget-frame-title = { $title }: current status
widget-incidents = { $count ->
    [0] No active incidents
    [one] 1 active incident
   *[other] { $count } active incidents
}
widget-new-tab = (opens in a new tab)
widget-stale = Figures may be out of date, as of
