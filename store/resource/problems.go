package resource

import (
	"fmt"
	"strings"
)

// Problems lists what is wrong with a definition, each problem naming its
// field. Each kind's invalid-definition error words itself with it.
type Problems []string

// ProblemsOf is the text of each of errs.
func ProblemsOf(errs []error) Problems {
	out := make(Problems, 0, len(errs))
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

// String is the one problem, or "N problems: " and all of them.
func (p Problems) String() string {
	if len(p) == 1 {
		return p[0]
	}
	return fmt.Sprintf("%d problems: %s", len(p), strings.Join(p, "; "))
}
