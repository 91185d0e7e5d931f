package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Op is one kind of operation the generator sends.
type Op int

// The operations, in the order results list them.
const (
	OpValidate Op = iota
	OpCreate
	OpRevoke
	numOps
)

var opNames = [numOps]string{"validate", "create", "revoke"}

// String returns the operation's name as --mix and the results spell it.
func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "op(" + strconv.Itoa(int(o)) + ")"
	}
	return opNames[o]
}

// Mix is the relative weight of each operation. Weights are relative, not
// percentages: {Validate: 9, Create: 1} is the same mix as {90, 10}. The
// zero Mix means validations only.
type Mix struct {
	Validate float64 `json:"validate"`
	Create   float64 `json:"create"`
	Revoke   float64 `json:"revoke"`
}

func (m Mix) weights() [numOps]float64 { return [numOps]float64{m.Validate, m.Create, m.Revoke} }

func (m Mix) isZero() bool { return m == Mix{} }

// Check reports what is wrong with m: a negative, NaN or infinite weight,
// or all weights zero.
func (m Mix) Check() error {
	sum := 0.0
	for i, w := range m.weights() {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return fmt.Errorf("%s weight %v: must be a finite number, 0 or more", Op(i), w)
		}
		sum += w
	}
	if math.IsInf(sum, 0) {
		return errors.New("the weights add up to more than the largest number")
	}
	if sum <= 0 {
		return errors.New("the weights must add up to more than 0")
	}
	return nil
}

// String formats m as ParseMix reads it, listing only the non-zero
// weights, e.g. "validate=90,create=5,revoke=5".
func (m Mix) String() string {
	var parts []string
	for i, w := range m.weights() {
		if w != 0 {
			parts = append(parts, Op(i).String()+"="+strconv.FormatFloat(w, 'g', -1, 64))
		}
	}
	if len(parts) == 0 {
		return "validate=0"
	}
	return strings.Join(parts, ",")
}

// ParseMix reads a mix written as comma-separated op=weight pairs, e.g.
// "validate=90,create=5,revoke=5". Ops are validate, create and revoke; an
// op left out has weight 0; weights are non-negative decimal numbers and
// at least one must be positive. Spaces around names and numbers are
// ignored. The error says which pair is wrong.
func ParseMix(s string) (Mix, error) {
	var m Mix
	if strings.TrimSpace(s) == "" {
		return m, errors.New("empty: want op=weight pairs such as validate=90,create=5,revoke=5")
	}
	var seen [numOps]bool
	for pair := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(pair, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok {
			return Mix{}, fmt.Errorf("%q: want op=weight", strings.TrimSpace(pair))
		}
		op := Op(-1)
		for i, n := range opNames {
			if strings.EqualFold(name, n) {
				op = Op(i)
			}
		}
		if op < 0 {
			return Mix{}, fmt.Errorf("unknown op %q: want validate, create or revoke", name)
		}
		if seen[op] {
			return Mix{}, fmt.Errorf("%s given twice", op)
		}
		seen[op] = true
		w, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 || strings.ContainsAny(val, "xXpP_") {
			return Mix{}, fmt.Errorf("%s weight %q: want a decimal number, 0 or more", op, val)
		}
		switch op {
		case OpValidate:
			m.Validate = w
		case OpCreate:
			m.Create = w
		case OpRevoke:
			m.Revoke = w
		}
	}
	if err := m.Check(); err != nil {
		return Mix{}, err
	}
	return m, nil
}
