package analytics

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
)

// GuideQuery is one ```sql block of docs/analysts.md.
type GuideQuery struct {
	// Label is the block's first-line comment's label ("q1" for "-- q1: failure rate ...").
	Label string
	// Title is the text after the label.
	Title string
	// SQL is the whole block, comment included.
	SQL string
}

var labelLine = regexp.MustCompile(`^--\s*(q\d+):\s*(.*)$`)

// GuideQueries extracts the labelled ```sql blocks of a Markdown guide, in order. A ```sql block
// whose first line is not a "-- qN: title" comment is an error, and so is a label used twice:
// every query in the guide is meant to be run by the tests.
func GuideQueries(markdown string) ([]GuideQuery, error) {
	var (
		out    []GuideQuery
		seen   = map[string]bool{}
		in     bool
		block  []string
		lineNo int
		start  int
	)
	sc := bufio.NewScanner(strings.NewReader(markdown))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```sql":
			in, block, start = true, nil, lineNo
		case in && trimmed == "```":
			in = false
			if len(block) == 0 {
				return nil, fmt.Errorf("line %d: empty sql block", start)
			}
			m := labelLine.FindStringSubmatch(strings.TrimSpace(block[0]))
			if m == nil {
				return nil, fmt.Errorf("line %d: sql block does not start with a \"-- qN: title\" comment", start)
			}
			if seen[m[1]] {
				return nil, fmt.Errorf("line %d: label %s used twice", start, m[1])
			}
			seen[m[1]] = true
			out = append(out, GuideQuery{Label: m[1], Title: m[2], SQL: strings.Join(block, "\n")})
		case in:
			block = append(block, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read guide: %w", err)
	}
	if in {
		return nil, fmt.Errorf("line %d: sql block not closed", start)
	}
	return out, nil
}
