package api

import (
	"bytes"
	"encoding/csv"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// reportColumns are the CSV report's columns. One file holds every kind
// of record, told apart by the first column, so that a spreadsheet filter
// on Record gives the user, folder, skipped or failed view.
var reportColumns = []string{
	"Record", "EmailAddress", "Status", "Folder", "ItemsSynced", "ItemsSkipped", "ItemsFailed", "Bytes",
	"LastSuccessfulSync", "LastError", "SourceCount", "DestinationCount",
	"Date", "Subject", "Size", "UID", "Reason", "Detail", "DestinationFolder", "CopiedLastPass",
}

// WriteReportCSV writes users as a CSV report: per user, a "user" row,
// then a "folder" row per source folder (figures of the last pass: the
// folder's counts at both ends and what the pass copied), then a "skipped" or "failed" row per item. Cells that do not
// apply to a record are empty. Times are RFC 3339 in UTC.
//
// Subjects, folder names and error texts come from mailboxes, so a cell
// that a spreadsheet would run as a formula gets a leading quote (see
// OWASP's "CSV Injection").
func WriteReportCSV(w io.Writer, users []service.User) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportColumns); err != nil {
		return err
	}
	for _, u := range users {
		rows := [][]string{{
			"user", u.EmailAddress, u.Status, "", itoa(u.ItemsSynced), itoa(u.ItemsSkipped), itoa(u.ItemsFailed), itoa(u.Bytes),
			timeCell(u.LastSync), u.LastError, "", "",
			"", "", "", "", "", "", "", "",
		}}
		for _, f := range u.Folders {
			var skipped int
			for _, n := range f.Skipped {
				skipped += n
			}
			rows = append(rows, []string{
				"folder", u.EmailAddress, f.Status, f.Source, "", strconv.Itoa(skipped), strconv.Itoa(f.Failed), itoa(f.Bytes),
				"", f.Error, strconv.Itoa(f.SourceCount), strconv.Itoa(f.DestCount),
				"", "", "", "", "", "", f.Destination, strconv.Itoa(f.Copied),
			})
		}
		for _, list := range []struct {
			record string
			items  []service.Item
		}{{"skipped", u.SkippedItems}, {"failed", u.FailedItems}} {
			for _, it := range list.items {
				rows = append(rows, []string{
					list.record, u.EmailAddress, "", it.Folder, "", "", "", "",
					"", "", "", "",
					timeCell(&it.Date), it.Subject, itoa(it.Size), strconv.FormatUint(uint64(it.UID), 10), it.Reason, it.Detail, "", "",
				})
			}
		}
		for _, row := range rows {
			for i, cell := range row {
				row[i] = escapeFormula(cell)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeCSVAttachment answers with the report as a file to save. It is
// built in memory first so that a failure is still a JSON error, not a
// truncated file.
func writeCSVAttachment(w http.ResponseWriter, batchName string, users []service.User) error {
	var buf bytes.Buffer
	if err := WriteReportCSV(&buf, users); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": batchName + "-report.csv"}))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

// WriteCSV writes rows as CSV with every cell escaped as WriteReportCSV
// escapes them, for the other reports that carry text from mailboxes
// (verification, see mailsync.Verification.CSVRows).
func WriteCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	for _, row := range rows {
		escaped := make([]string, len(row))
		for i, cell := range row {
			escaped[i] = escapeFormula(cell)
		}
		if err := cw.Write(escaped); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func escapeFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
