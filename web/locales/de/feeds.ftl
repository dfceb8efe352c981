# Messages of src/public/feeds (and its siblings); keys prefixed `feeds-`.
# RSS and Atom: the feed's title and description.
feeds-title = { $page }: Störungen und Wartungen
feeds-description = Störungen und geplante Wartungen von { $page }.
# An entry for a maintenance window.
feeds-maintenance-title = Wartung: { $title }
feeds-window = Von { $starts } bis { $ends }
feeds-status = Status: { $status }
feeds-impact = Auswirkung: { $impact }
feeds-affected = Betroffen: { $components }
feeds-started = Begonnen { $at }
feeds-resolved = Behoben { $at }
# The iCalendar feed of maintenance (calendar apps show its name).
feeds-calendar-name = { $page }: Wartungen
feeds-calendar-description = Geplante Wartungen von { $page }.
