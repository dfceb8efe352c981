# Messages of src/public/badges (and its siblings); keys prefixed `badges-`.
# The whole page's badge: "Status | Teilausfall".
badges-status = Status
badges-unknown = unbekannt
badges-no-data = keine Daten
# "Verfügbarkeit 30 Tage | 99,91 %".
badges-uptime = Verfügbarkeit { $window }
badges-window-24h = 24 Std.
badges-window-7d = 7 Tage
badges-window-30d = 30 Tage
badges-window-90d = 90 Tage
# "Antwortzeit 24 Std. | 76 ms" (der Median).
badges-response-time = Antwortzeit 24 Std.
# The embeddable widget (src/public/widget); keys prefixed `widget-`.
widget-document-title = { $title }: { $status }
widget-frame-title = { $title }: aktueller Status
widget-incidents = { $count ->
    [0] Keine aktiven Störungen
    [one] 1 aktive Störung
   *[other] { $count } aktive Störungen
}
widget-new-tab = (öffnet in einem neuen Tab)
widget-stale = Die Angaben sind möglicherweise veraltet, Stand
