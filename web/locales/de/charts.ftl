# Messages of src/public/charts (and its siblings); keys prefixed `charts-`.
# The chart's title: "Antwortzeit der letzten 24 Stunden: alle Regionen".
charts-title = Antwortzeit der letzten { $period }: { $scope }
charts-scope-all = alle Regionen
charts-scope-region = Region { $region }
charts-range = Von { $since } bis { $until }.
charts-summary = Median (p50) { $p50 }; schlechtester p95-Wert { $p95 } um { $at }.
charts-coverage = { $missing ->
    [0] Jedes Intervall hat Daten.
    [one] Keine Daten für 1 von { $total } Intervallen.
   *[other] Keine Daten für { $missing } von { $total } Intervallen.
}
charts-no-data = Keine Daten für diesen Zeitraum
charts-legend-p50 = p50 (Median)
charts-legend-p95 = p95
charts-utc = Zeiten in UTC
# An x-axis date: "2. Dez.".
charts-date = { $day }. { $month }
charts-month-1 = Jan.
charts-month-2 = Feb.
charts-month-3 = März
charts-month-4 = Apr.
charts-month-5 = Mai
charts-month-6 = Juni
charts-month-7 = Juli
charts-month-8 = Aug.
charts-month-9 = Sept.
charts-month-10 = Okt.
charts-month-11 = Nov.
charts-month-12 = Dez.
