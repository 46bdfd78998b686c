package extract

import (
	"errors"
	"fmt"
)

// ErrDrift reports that a window's records moved while it was being read: its TotalCount
// changed between pages, or the pages did not add up to it. Offsets have shifted, so a record
// may have been skipped or read twice: the window must be read again (or split).
var ErrDrift = errors.New("pagination drift")

// DriftError details an ErrDrift.
type DriftError struct {
	Window         Range
	FirstTotal     int
	SeenTotal      int
	Collected      int
	PageNum        int
	PageRecords    int
	ExpectedOnPage int
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("pagination drift in window %s: TotalCount %d on page 1, %d on page %d (%d records on it, %d expected), %d collected",
		e.Window, e.FirstTotal, e.SeenTotal, e.PageNum, e.PageRecords, e.ExpectedOnPage, e.Collected)
}

func (e *DriftError) Unwrap() error { return ErrDrift }

// Pages returns how many pages total records take at pageSize.
func Pages(total, pageSize int) int {
	if total <= 0 {
		return 1
	}
	return (total + pageSize - 1) / pageSize
}
