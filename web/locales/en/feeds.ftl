# Messages of src/public/feeds (and its siblings); keys prefixed `feeds-`.
# RSS and Atom: the feed's title and description.
feeds-title = { $page }: incidents and maintenance
feeds-description = Incidents and scheduled maintenance of { $page }.
# An entry for a maintenance window.
feeds-maintenance-title = Maintenance: { $title }
feeds-window = From { $starts } to { $ends }
feeds-status = Status: { $status }
feeds-impact = Impact: { $impact }
feeds-affected = Affected: { $components }
feeds-started = Started { $at }
feeds-resolved = Resolved { $at }
# The iCalendar feed of maintenance (calendar apps show its name).
feeds-calendar-name = { $page }: maintenance
feeds-calendar-description = Scheduled maintenance of { $page }.
