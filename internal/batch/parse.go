package batch

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Column names as the Exchange Online template writes them.
const (
	colEmail        = "EmailAddress"
	colUser         = "UserName"
	colPassword     = "Password"
	colUserRoot     = "UserRoot"
	colDestUser     = "DestinationUserName"
	colDestPassword = "DestinationPassword"
	colRefresh      = "RefreshToken"
	colDestRefresh  = "DestinationRefreshToken"
)

// columns lists the accepted columns in the order messages show them.
var columns = []string{colEmail, colUser, colPassword, colUserRoot, colDestUser, colDestPassword, colRefresh, colDestRefresh}

// maxEncodingProblems caps the lines listed for a file that is not UTF-8:
// a Latin-1 export has bad bytes on most lines, and the first few are
// enough to find the cause.
const maxEncodingProblems = 10

var bom = []byte("\uFEFF")

// Parse checks the whole file and returns its rows, or every problem found
// (all at once, sorted by line). When problems is non-empty, rows must not be
// used.
//
// Lines that are empty or hold only spaces and separators are skipped (Excel
// leaves such rows at the end of a sheet). Fields are trimmed of surrounding
// spaces, except the passwords, which are kept byte for byte (refresh
// tokens are trimmed: they never hold spaces).
func Parse(data []byte, opts Options) (rows []Row, problems []Problem) {
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	data = bytes.TrimPrefix(data, bom)
	// Without valid UTF-8 every later message could point at the wrong
	// thing (a mangled address, a separator inside a multi-byte
	// sequence), so encoding problems are reported alone.
	if ps := checkUTF8(data); len(ps) > 0 {
		return nil, ps
	}
	p := &parser{opts: opts}
	rows = p.parse(data)
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, p.problems
	}
	return rows, nil
}

// checkUTF8 names the lines holding bytes that are not UTF-8.
func checkUTF8(data []byte) []Problem {
	if utf8.Valid(data) {
		return nil
	}
	var ps []Problem
	line, bad, first := 0, 0, 0
	for l := range bytes.Lines(data) {
		line++
		if utf8.Valid(l) {
			continue
		}
		bad++
		if first == 0 {
			first = line
		}
		if bad <= maxEncodingProblems {
			ps = append(ps, Problem{Line: line, Message: `has bytes that are not UTF-8; save the file as "CSV UTF-8"`})
		}
	}
	if bad > maxEncodingProblems {
		ps = append(ps, Problem{Message: fmt.Sprintf(
			"%d lines have bytes that are not UTF-8, the first on line %d; only %d are listed", bad, first, maxEncodingProblems)})
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return ps
}

// parser holds what Parse learns from the header while it reads the rows.
type parser struct {
	opts     Options
	problems []Problem
	index    map[string]int // accepted column name → field index, for columns present
	width    int            // fields in the header
}

func (p *parser) add(line int, column, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) []Row {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = detectSeparator(data)
	r.FieldsPerRecord = -1 // field counts are checked here, with a better message
	var (
		rows      []Row
		header    bool
		count     int
		seenEmail = map[string]int{} // lower-cased address → line
		seenDest  = map[string]int{} // lower-cased DestinationUserName → line
	)
	for {
		offset := r.InputOffset()
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			p.quoteProblem(pe)
			if !header || r.InputOffset() == offset {
				// Without a header no row can be checked.
				return nil
			}
			count++
			continue
		} else if err != nil {
			// bytes.Reader fails only with io.EOF; this is a safety net.
			p.add(0, "", "read: %s", err)
			return nil
		}
		line, _ := r.FieldPos(0)
		if blank(rec) {
			continue
		}
		if !header {
			header = true
			p.header(rec, line)
			continue
		}
		count++
		if count > p.opts.MaxRows {
			// Stop here: the file may hold millions of rows and the admin
			// has to split it anyway.
			p.add(0, "", "more than %d users; split the file into batches of at most %d", p.opts.MaxRows, p.opts.MaxRows)
			return nil
		}
		row, ok := p.row(rec, line)
		if !ok {
			continue
		}
		if row.EmailAddress != "" {
			key := strings.ToLower(row.EmailAddress)
			if first, dup := seenEmail[key]; dup {
				p.add(line, colEmail, "%q: already on line %d", row.EmailAddress, first)
			} else {
				seenEmail[key] = line
			}
		}
		if row.DestUserName != "" {
			key := strings.ToLower(row.DestUserName)
			if first, dup := seenDest[key]; dup {
				p.add(line, colDestUser, "%q: already on line %d; two users cannot migrate into one mailbox", row.DestUserName, first)
			} else {
				seenDest[key] = line
			}
		}
		rows = append(rows, row)
	}
	switch {
	case !header:
		p.add(0, "", "no users: the file is empty")
	case count == 0:
		p.add(0, "", "no users: the file has a header but no rows")
	}
	return rows
}

// quoteProblem reports a CSV syntax error on the line where its record
// starts, which is where the admin has to look.
func (p *parser) quoteProblem(pe *csv.ParseError) {
	var msg string
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		msg = `bad quoting: a field that does not start with " has one inside; put the field in double quotes and double each " in it`
	case errors.Is(pe.Err, csv.ErrQuote):
		msg = `bad quoting: a quoted field is never closed, or its closing " is followed by more text`
	default:
		msg = "bad CSV: " + pe.Err.Error()
	}
	if pe.Line != pe.StartLine {
		msg += fmt.Sprintf(" (found on line %d)", pe.Line)
	}
	p.add(pe.StartLine, "", "%s", msg)
}

// header learns the column order and reports unknown, duplicate and missing
// columns.
func (p *parser) header(rec []string, line int) {
	p.index = map[string]int{}
	p.width = len(rec)
	accepted := strings.Join(columns, ", ")
	for i, raw := range rec {
		name := strings.TrimSpace(raw)
		col, known := lookupColumn(name)
		switch {
		case name == "":
			p.add(line, "", "column %d of the header has no name; name it or remove it (accepted columns: %s)", i+1, accepted)
		case !known:
			hint := ""
			if s := suggestColumn(name); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			p.add(line, name, "is not a known column%s; accepted columns: %s", hint, accepted)
		default:
			if first, dup := p.index[col]; dup {
				p.add(line, col, "appears twice in the header (columns %d and %d)", first+1, i+1)
				continue
			}
			p.index[col] = i
		}
	}
	var missing []string
	for _, col := range []string{colEmail, colUser, colPassword} {
		if col == colPassword && p.opts.PasswordOptional {
			continue
		}
		if _, ok := p.index[col]; !ok {
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 {
		s := ""
		if len(missing) > 1 {
			s = "s"
		}
		p.add(line, "", "the header lacks the required column%s %s; the first line must name the columns (accepted: %s)",
			s, strings.Join(missing, ", "), accepted)
	}
}

// row checks one user's fields; ok is false when the fields cannot be told
// apart at all.
func (p *parser) row(rec []string, line int) (row Row, ok bool) {
	if len(rec) != p.width {
		p.add(line, "", "has %d fields but the header has %d; put fields that contain the separator in double quotes", len(rec), p.width)
		return Row{}, false
	}
	field := func(col string) (string, bool) {
		i, ok := p.index[col]
		if !ok {
			return "", false
		}
		return rec[i], true
	}
	trimmed := func(col string) string {
		v, _ := field(col)
		return strings.TrimSpace(v)
	}
	row = Row{
		Line:         line,
		EmailAddress: trimmed(colEmail),
		UserName:     trimmed(colUser),
		UserRoot:     trimmed(colUserRoot),
		DestUserName: trimmed(colDestUser),
	}
	row.Password, _ = field(colPassword)
	row.DestPassword, _ = field(colDestPassword)
	row.RefreshToken = trimmed(colRefresh)
	row.DestRefreshToken = trimmed(colDestRefresh)

	// A column missing from the header is reported once there, not on
	// every row.
	if _, ok := field(colEmail); ok {
		if row.EmailAddress == "" {
			p.add(line, colEmail, "is empty")
		} else if msg := checkAddress(row.EmailAddress); msg != "" {
			p.add(line, colEmail, "%q: %s", row.EmailAddress, msg)
			row.EmailAddress = "" // not used for duplicate checks
		}
	}
	if _, ok := field(colUser); ok && row.UserName == "" {
		p.add(line, colUser, "is empty")
	}
	if _, ok := field(colPassword); ok && row.Password == "" && !p.opts.PasswordOptional {
		p.add(line, colPassword, "is empty")
	}
	if row.DestPassword != "" && row.DestUserName == "" {
		p.add(line, colDestPassword, "is given without %s", colDestUser)
	}
	return row, true
}

// blank reports whether a record holds nothing but spaces.
func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// lookupColumn finds the accepted column a header name stands for.
func lookupColumn(name string) (string, bool) {
	for _, c := range columns {
		if strings.EqualFold(name, c) {
			return c, true
		}
	}
	return "", false
}

// detectSeparator picks the separator that splits the header into the most
// accepted columns: Excel writes ";" where the decimal mark is a comma, and
// tab-separated files come from copying a sheet. Ties go to the separator
// that gives more fields, then to ",".
func detectSeparator(data []byte) rune {
	var header []byte
	for l := range bytes.Lines(data) {
		if len(bytes.TrimSpace(l)) > 0 {
			header = l
			break
		}
	}
	best, bestKnown, bestFields := ',', -1, -1
	for _, sep := range []rune{',', ';', '\t'} {
		r := csv.NewReader(bytes.NewReader(header))
		r.Comma = sep
		r.FieldsPerRecord = -1
		fields, err := r.Read()
		if err != nil {
			// A broken header still shows its separator.
			fields = strings.Split(string(header), string(sep))
		}
		known := 0
		for _, f := range fields {
			if _, ok := lookupColumn(strings.TrimSpace(f)); ok {
				known++
			}
		}
		if known > bestKnown || known == bestKnown && len(fields) > bestFields {
			best, bestKnown, bestFields = sep, known, len(fields)
		}
	}
	return best
}
