package handlers

import (
	"encoding/json"
	"time"
)

// SavedForecast is a group's saved forecaster state as a read-only tool
// sees it (the operator CLI's `shadowscale forecast --group`): the last
// minute the forecaster observed and its loop's own state (for the loops
// of ControlLoops, a control.State in JSON). The blob's format stays the
// forecaster's: read it through DecodeSavedForecast, never by hand.
type SavedForecast struct {
	// Last is the start of the last minute observed (zero: none yet).
	Last time.Time
	// Loop is the loop's state (nil: none saved yet).
	Loop json.RawMessage
}

// DecodeSavedForecast decodes a blob the forecaster saved (Table.States).
// A blob of another format version is an error.
func DecodeSavedForecast(blob []byte) (SavedForecast, error) {
	fs, err := decodeForecastState(blob)
	if err != nil {
		return SavedForecast{}, err
	}
	sf := SavedForecast{Loop: fs.Loop}
	if fs.Last > 0 {
		sf.Last = minuteTime(fs.Last)
	}
	return sf, nil
}
