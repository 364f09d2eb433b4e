package handlers

// ParseKinesisEventInto is parseKinesisEvent, for the external tests.
var ParseKinesisEventInto = parseKinesisEvent
