package handlers

import (
	"errors"
	"testing"
	"time"
)

func TestDecodeSavedForecast(t *testing.T) {
	for _, tc := range []struct {
		name     string
		blob     string
		wantLast time.Time
		wantLoop string
		wantErr  error
	}{
		{name: "saved", blob: `{"v":1,"last":29413440,"loop":{"version":1,"last":29413440}}`, wantLast: time.Date(2025, 12, 4, 0, 0, 0, 0, time.UTC), wantLoop: `{"version":1,"last":29413440}`},
		{name: "nothing observed yet", blob: `{"v":1}`},
		{name: "empty blob", blob: ``},
		{name: "another version", blob: `{"v":2,"last":1}`, wantErr: errStateVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSavedForecast([]byte(tc.blob))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if !got.Last.Equal(tc.wantLast) || string(got.Loop) != tc.wantLoop {
				t.Errorf("got last %v loop %s, want %v %s", got.Last, got.Loop, tc.wantLast, tc.wantLoop)
			}
		})
	}
	if _, err := DecodeSavedForecast([]byte(`{"v":`)); err == nil {
		t.Error("a truncated blob decoded")
	}
}
