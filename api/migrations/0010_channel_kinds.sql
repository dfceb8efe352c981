-- Issue 11: Microsoft Teams, Discord, PagerDuty and Opsgenie channels.
ALTER TABLE notification_channels DROP CONSTRAINT notification_channels_kind_check;
ALTER TABLE notification_channels ADD CONSTRAINT notification_channels_kind_check
    CHECK (kind IN ('email', 'webhook', 'slack', 'teams', 'discord', 'pagerduty', 'opsgenie'));
