package mutation

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// eventRecordSeeds adds to a fuzz target's corpus the data of every
// record of the sample Kinesis event in events/ (the mutations as a
// producer writes them), and two large records: one just under Kinesis'
// 1 MiB record limit and one just over it, so fuzzing also runs on inputs
// of the largest size a record can have (memory stays bounded: Decode
// refuses what is over the limit before decoding it).
func eventRecordSeeds(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "kinesis-mutations.json"))
	if err != nil {
		f.Fatal(err)
	}
	var ev struct {
		Records []struct {
			Kinesis struct {
				Data string `json:"data"`
			} `json:"kinesis"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(b, &ev); err != nil || len(ev.Records) == 0 {
		f.Fatalf("the sample Kinesis event: %v", err)
	}
	for _, r := range ev.Records {
		d, err := base64.StdEncoding.DecodeString(r.Kinesis.Data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d)
	}
	big := func(valueBytes int) []byte {
		v := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("v", valueBytes)))
		return []byte(`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","value":"` + v + `","ts":"2026-11-28T12:00:00Z"}`)
	}
	f.Add(big(MaxRecordBytes*3/4 - 200)) // its base64 just under 1 MiB
	f.Add(big(MaxRecordBytes * 3 / 4))   // just over
}
