# Messages of src/public/charts (and its siblings); keys prefixed `charts-`.
# The chart's title: "Response time over the last 24 hours: all regions".
charts-title = Response time over the last { $period }: { $scope }
charts-scope-all = all regions
charts-scope-region = region { $region }
charts-range = From { $since } to { $until }.
charts-summary = Median (p50) { $p50 }; worst p95 { $p95 } at { $at }.
charts-coverage = { $missing ->
    [0] Every interval has data.
    [one] No data for 1 of { $total } intervals.
   *[other] No data for { $missing } of { $total } intervals.
}
charts-no-data = No data for this period
charts-legend-p50 = p50 (median)
charts-legend-p95 = p95
charts-utc = Times in UTC
# An x-axis date: "Dec 2".
charts-date = { $month } { $day }
charts-month-1 = Jan
charts-month-2 = Feb
charts-month-3 = Mar
charts-month-4 = Apr
charts-month-5 = May
charts-month-6 = Jun
charts-month-7 = Jul
charts-month-8 = Aug
charts-month-9 = Sep
charts-month-10 = Oct
charts-month-11 = Nov
charts-month-12 = Dec
