package batch

import (
	"strings"
	"unicode"
)

// suggestColumn returns the accepted column a misspelt header name most
// likely means, or "" when none is close or two are equally close. Case,
// spaces, underscores and hyphens are ignored, so "Email Address" and
// "user_name" are recognised as well as "EmailAdress".
func suggestColumn(name string) string {
	squashed := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, name)
	best, bestDist, tie := "", -1, false
	for _, c := range columns {
		d := editDistance(squashed, strings.ToLower(c))
		if d > max(2, len(c)/4) {
			continue
		}
		switch {
		case bestDist < 0 || d < bestDist:
			best, bestDist, tie = c, d, false
		case d == bestDist:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
