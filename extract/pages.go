package extract

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// ReadPages delivers page first and then every further page of q's window to sink. Further
// pages are fetched concurrently (at most concurrency at once; the limiter still gates every
// request); sink runs on the calling goroutine, one page at a time, in any page order. It
// checks every page against first's TotalCount and returns a *DriftError if the window moved.
func (c *Client) ReadPages(ctx context.Context, q Query, first Page, concurrency int, stats *Stats, sink func(Page) error) error {
	total := first.TotalCount
	n := Pages(total, q.PageSize)
	if n > MaxPageNum {
		return fmt.Errorf("window %s holds %d records: more than %d pages of %d; split it first",
			Range{q.Start, q.End}, total, MaxPageNum, q.PageSize)
	}
	collected := 0
	check := func(p Page) error {
		want := q.PageSize
		if p.PageNum == n {
			want = total - (n-1)*q.PageSize
		}
		collected += len(p.Records)
		if p.TotalCount != total || len(p.Records) != want {
			return &DriftError{Window: Range{q.Start, q.End}, FirstTotal: total, SeenTotal: p.TotalCount,
				Collected: collected, PageNum: p.PageNum, PageRecords: len(p.Records), ExpectedOnPage: want}
		}
		return nil
	}
	if err := check(first); err != nil {
		return err
	}
	if err := sink(first); err != nil {
		return err
	}
	if n == 1 {
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nums := make(chan int)
	type result struct {
		num  int
		page Page
		err  error
	}
	results := make(chan result, concurrency)
	var wg sync.WaitGroup
	for range max(1, min(concurrency, n-1)) {
		wg.Go(func() {
			for num := range nums {
				pq := q
				pq.PageNum = num
				p, err := c.Describe(ctx, pq, stats)
				select {
				case results <- result{num, p, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		})
	}
	go func() {
		defer close(nums)
		for num := 2; num <= n; num++ {
			select {
			case nums <- num:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var firstErr error
	for r := range results {
		if firstErr != nil {
			continue
		}
		if r.err != nil {
			firstErr = fmt.Errorf("window %s page %d: %w", Range{q.Start, q.End}, r.num, r.err)
			cancel()
			continue
		}
		if err := check(r.page); err != nil {
			firstErr = err
			cancel()
			continue
		}
		if err := sink(r.page); err != nil {
			firstErr = err
			cancel()
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if collected != total {
		return &DriftError{Window: Range{q.Start, q.End}, FirstTotal: total, SeenTotal: total, Collected: collected}
	}
	return ctx.Err()
}
