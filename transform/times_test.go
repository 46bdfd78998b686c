package transform

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2025, 3, 18, 15, 30, 52, 0, time.UTC)
	wantFrac := time.Date(2025, 3, 18, 15, 30, 52, 123456789, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Time
		wantOK bool
	}{
		{"offset +08:00", "2025-03-18T23:30:52+08:00", want, true},
		{"zone Z", "2025-03-18T15:30:52Z", want, true},
		{"zone lower-case z", "2025-03-18T15:30:52z", want, true},
		{"offset -05:00", "2025-03-18T10:30:52-05:00", want, true},
		{"offset +00:00", "2025-03-18T15:30:52+00:00", want, true},
		{"offset with minutes +05:30", "2025-03-18T21:00:52+05:30", want, true},
		{"fraction nanoseconds", "2025-03-18T23:30:52.123456789+08:00", wantFrac, true},
		{"fraction milliseconds Z", "2025-03-18T15:30:52.5Z", want.Add(500 * time.Millisecond), true},
		{"space instead of T", "2025-03-18 23:30:52+08:00", want, true},
		{"lower-case t", "2025-03-18t15:30:52Z", want, true},
		{"space separator and fraction", "2025-03-18 15:30:52.123456789Z", wantFrac, true},
		{"surrounding spaces", "  2025-03-18T23:30:52+08:00 \t", want, true},
		{"date crossing to previous day in UTC", "2025-03-19T01:00:00+08:00", time.Date(2025, 3, 18, 17, 0, 0, 0, time.UTC), true},
		{"empty", "", time.Time{}, false},
		{"spaces only", "   ", time.Time{}, false},
		{"no offset", "2025-03-18T23:30:52", time.Time{}, false},
		{"offset without colon", "2025-03-18T23:30:52+0800", time.Time{}, false},
		{"date only", "2025-03-18", time.Time{}, false},
		{"unix seconds", "1742311852", time.Time{}, false},
		{"bad separator", "2025-03-18X23:30:52+08:00", time.Time{}, false},
		{"month 13", "2025-13-18T23:30:52+08:00", time.Time{}, false},
		{"february 30", "2025-02-30T23:30:52+08:00", time.Time{}, false},
		{"hour 24", "2025-03-18T24:00:00Z", time.Time{}, false},
		{"garbage", "yesterday", time.Time{}, false},
		{"very long", "2025-03-18T23:30:52." + string(make([]byte, 100)) + "Z", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseTime(tt.in)
			if ok != tt.wantOK {
				t.Fatalf("parseTime(%q) ok = %v, want %v", tt.in, ok, tt.wantOK)
			}
			if !got.Equal(tt.want) {
				t.Errorf("parseTime(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("parseTime(%q) location = %v, want UTC", tt.in, got.Location())
			}
		})
	}
}

func TestLatencyMS(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 3, 18, 15, 30, 52, 0, time.UTC)
	tests := []struct {
		name     string
		from, to time.Time
		want     int64
	}{
		{"equal", base, base, 0},
		{"half a second", base, base.Add(500 * time.Millisecond), 500},
		{"rounds toward zero positive", base, base.Add(1999999 * time.Microsecond), 1999},
		{"rounds toward zero negative", base, base.Add(-1999999 * time.Microsecond), -1999},
		{"sub-millisecond positive is 0", base, base.Add(999 * time.Microsecond), 0},
		{"sub-millisecond negative is 0", base, base.Add(-999 * time.Microsecond), 0},
		{"positive across second boundary", base.Add(900 * time.Millisecond), base.Add(1100 * time.Millisecond), 200},
		{"negative across second boundary", base.Add(1100 * time.Millisecond), base.Add(900 * time.Millisecond), -200},
		{"negative nanoseconds carry", base.Add(999999999), base.Add(time.Second + 1), 0},
		{"one day", base, base.Add(24 * time.Hour), 86400000},
		{"absurd: year 0000 to 9999 kept exact",
			time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			315569519999999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := latencyMS(tt.from, tt.to); got != tt.want {
				t.Errorf("latencyMS = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLatencyMSMatchesDuration(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 3, 18, 15, 30, 52, 123456789, time.UTC)
	for _, d := range []time.Duration{1, -1, 999999, -999999, 1000000, -1000000, 1234567891, -1234567891,
		time.Hour + 7, -(time.Hour + 7), 100*24*time.Hour + 999999999, -(100*24*time.Hour + 999999999)} {
		if got, want := latencyMS(base, base.Add(d)), d.Milliseconds(); got != want {
			t.Errorf("latencyMS(+%v) = %d, want %d", d, got, want)
		}
	}
}
