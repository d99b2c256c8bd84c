package api

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// chart is one line chart of the HTML report, laid out here and written
// by the template as inline SVG: one point (a circle with its figures as
// a tooltip) per pass, joined by a line.
type chart struct {
	ID, Title     string
	Width, Height int
	Left, Bottom  float64 // the plot's left edge and baseline, for the axes
	Right         float64
	Line          string // the polyline's points
	Points        []chartPoint
	YTicks        []tick
	XTicks        []tick
}

type chartPoint struct {
	X, Y  float64
	Label string
}

type tick struct {
	X, Y  float64
	Label string
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 720
	chartHeight = 240
	padLeft     = 84
	padRight    = 20
	padTop      = 14
	padBottom   = 40
)

// progressCharts draws the batch's progress over time from its passes:
// the messages at the destination and the bytes copied, added up over the
// users after each pass (each user counting with its latest figures).
// None without passes.
func progressCharts(passes []service.Pass, loc *time.Location) []chart {
	if len(passes) == 0 {
		return nil
	}
	itemsOf, bytesOf := map[string]int64{}, map[string]int64{}
	var items, bytes int64
	at := make([]time.Time, len(passes))
	itemSeries, byteSeries := make([]int64, len(passes)), make([]int64, len(passes))
	itemLabels, byteLabels := make([]string, len(passes)), make([]string, len(passes))
	for i, p := range passes {
		items += p.ItemsSynced - itemsOf[p.User]
		bytes += p.BytesTotal - bytesOf[p.User]
		itemsOf[p.User], bytesOf[p.User] = p.ItemsSynced, p.BytesTotal
		at[i], itemSeries[i], byteSeries[i] = p.Finished, items, bytes
		what := fmt.Sprintf("%s: %s, %s pass (%s), %d copied", p.Finished.In(loc).Format("2006-01-02 15:04:05"), p.User, p.Kind, p.Outcome, p.Copied)
		itemLabels[i] = fmt.Sprintf("%s; %d messages at the destination", what, items)
		byteLabels[i] = fmt.Sprintf("%s; %s copied in all", what, size.Format(bytes))
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []chart{
		drawChart("chart-messages", "Messages at the destination", at, itemSeries, itemLabels, niceCeil, count, loc),
		drawChart("chart-bytes", "Bytes copied", at, byteSeries, byteLabels, niceBytes, size.Format, loc),
	}
}

// drawChart lays out one chart: values over at, the axis going up to
// nice of the largest value and labelled with format.
func drawChart(id, title string, at []time.Time, values []int64, labels []string,
	nice func(int64) int64, format func(int64) string, loc *time.Location) chart {
	c := chart{ID: id, Title: title, Width: chartWidth, Height: chartHeight,
		Left: padLeft, Right: chartWidth - padRight, Bottom: chartHeight - padBottom}
	plotW, plotH := float64(chartWidth-padLeft-padRight), float64(chartHeight-padTop-padBottom)
	t0, t1 := at[0], at[len(at)-1]
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return padLeft + plotW/2
		}
		return padLeft + plotW*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	top := nice(slices.Max(values))
	y := func(v int64) float64 { return padTop + plotH - plotH*float64(v)/float64(top) }
	var line strings.Builder
	for i, v := range values {
		p := chartPoint{X: round1(x(at[i])), Y: round1(y(v)), Label: labels[i]}
		fmt.Fprintf(&line, "%g,%g ", p.X, p.Y)
		c.Points = append(c.Points, p)
	}
	c.Line = strings.TrimSpace(line.String())
	for _, v := range []int64{0, top / 2, top} {
		c.YTicks = append(c.YTicks, tick{X: padLeft - 8, Y: round1(y(v)), Label: format(v)})
	}
	c.XTicks = append(c.XTicks, tick{X: round1(x(t0)), Y: chartHeight - padBottom + 18, Label: t0.In(loc).Format("2006-01-02 15:04")})
	if t1.Sub(t0) >= time.Minute {
		c.XTicks = append(c.XTicks, tick{X: round1(x(t1)), Y: chartHeight - padBottom + 18, Label: t1.In(loc).Format("2006-01-02 15:04")})
	}
	return c
}

// niceCeil is the smallest of 1, 2, 5 times a power of ten that is at
// least n (and at least 1), so that the axis reads in round figures.
func niceCeil(n int64) int64 {
	if n <= 1 {
		return 1
	}
	p := int64(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

// niceBytes is niceCeil in the binary unit of n: 2 KiB, 50 MiB, 1 GiB.
func niceBytes(n int64) int64 {
	unit := int64(1)
	for n/unit >= 1024 {
		unit *= 1024
	}
	return niceCeil((n+unit-1)/unit) * unit
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
