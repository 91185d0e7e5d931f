package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A setting is one flag with its environment variable; a group is a set
// of settings that commands take together, with the check that turns
// their values into part of a Config (config.go declares them). Each
// command takes the groups listed for it in commandGroups: its flag set
// and its -h show those and nothing else. A group a command does not take
// is still checked, on its built-in defaults with no environment, so every
// Config is complete.

// spec declares a setting. A back-quoted word in help names the flag's
// argument in -h (`host:port`); otherwise the default's form does (bool,
// duration, int, string).
type spec struct {
	env, flag, def, help string
	secret               bool // never shown: not in -h, not in an error
}

// group is a set of settings commands take together.
type group struct {
	name  string // for commandGroups and tests
	title string // the heading in -h
	specs []spec
	// check validates the group's values into c. Checks run in the order
	// of allGroups, so a check may read what an earlier group set (the
	// Redis mode, for instance).
	check func(st *settings, c *Config) error
}

// setting is a declared spec with its raw value. Raw values are kept as
// text and checked by the group's check, so every bad value gets one line
// naming the setting.
type setting struct {
	spec
	value string

	// A secret setting also reads its value from a file: NAME_FILE or
	// --flag-file (the Docker and Kubernetes secrets convention). Where
	// each form came from is kept until resolve reads the file.
	envSet, envFileSet   bool   // NAME, NAME_FILE were set (non-empty)
	flagSet, flagFileSet bool   // --flag, --flag-file were given
	file                 string // the file named by the winning form
	fromFile             bool   // resolve read the value from file
	// fromPort: the value is ":"+PORT (serve, STUDIO_ADDR unset).
	fromPort bool
}

func (s *setting) name() string { return s.env + " (--" + s.flag + ")" }

// given reports whether the value came from the environment or a flag,
// in either form, rather than from the default.
func (s *setting) given() bool { return s.envSet || s.envFileSet || s.flagSet || s.flagFileSet }

// settings is the raw, unvalidated configuration of one command.
type settings struct {
	cmd    string              // the command: serve, up, warm, …
	getenv func(string) string // for the standard OTEL_* variables and receivers' secret_env
	fs     *flag.FlagSet
	out    io.Writer // where -h prints
	// header is the usage text -h prints before the flags.
	header string
	groups []*group            // the groups cmd takes, in -h order
	list   []*setting          // their settings, in -h order
	by     map[string]*setting // the same, by environment variable
	// defaults holds the groups cmd does not take, on their built-in
	// defaults and an empty environment: Config checks them from there.
	defaults *settings
}

// noEnv is the environment of the groups a command does not take.
func noEnv(string) string { return "" }

// newSettings declares the settings of the groups cmd takes on a new flag
// set named cmd; defaults come from getenv, then from defs (keyed by env
// name), then from the built-in default. -h prints to stderr.
func newSettings(cmd string, getenv func(string) string, stderr io.Writer, defs map[string]string) *settings {
	groups, ok := commandGroups[cmd]
	if !ok {
		panic("studio: no settings declared for command " + cmd)
	}
	st := &settings{cmd: cmd, getenv: getenv, out: stderr, groups: groups, by: map[string]*setting{},
		fs: flag.NewFlagSet("studio "+cmd, flag.ContinueOnError)}
	// Flag errors are one line (printed by run); the help only on -h.
	st.fs.SetOutput(io.Discard)
	st.fs.Usage = func() {}
	st.defaults = &settings{cmd: cmd, getenv: noEnv, by: map[string]*setting{}}
	for _, g := range allGroups {
		for _, sp := range g.specs {
			if d, ok := defs[sp.env]; ok {
				sp.def = d
			}
			s := &setting{spec: sp, value: sp.def}
			if !slices.Contains(groups, g) {
				st.defaults.by[sp.env] = s
				continue
			}
			st.declare(s)
		}
	}
	// Platforms that assign the port (Railway, Heroku, Cloud Run) set
	// PORT; it is the listen port when STUDIO_ADDR is not set.
	if addr := st.by["STUDIO_ADDR"]; cmd == "serve" && addr != nil && !addr.envSet {
		if p, ok := lookupEnv(getenv, "PORT"); ok {
			addr.value, addr.fromPort = ":"+strings.TrimSpace(p), true
		}
	}
	return st
}

// declare reads s from the environment and adds its flags (and for a
// secret the -file flag).
func (st *settings) declare(s *setting) {
	if v, ok := lookupEnv(st.getenv, s.env); ok {
		s.value, s.envSet = v, true
	}
	st.fs.Func(s.flag, s.help, func(v string) error {
		s.value, s.flagSet, s.fromPort = v, true, false
		return nil
	})
	if s.secret {
		if p, ok := lookupEnv(st.getenv, s.env+"_FILE"); ok {
			s.file, s.envFileSet = p, true
		}
		st.fs.Func(s.flag+"-file", "file holding the value of --"+s.flag, func(v string) error {
			s.file, s.flagFileSet = v, true
			return nil
		})
	}
	st.list = append(st.list, s)
	st.by[s.env] = s
}

// takes reports whether the command takes the group g.
func (st *settings) takes(g *group) bool { return slices.Contains(st.groups, g) }

// Config validates the settings and returns the Config; the error names
// the first bad setting. The groups the command does not take hold their
// built-in defaults.
func (st *settings) Config() (Config, error) {
	var c Config
	if err := st.resolve(); err != nil {
		return c, err
	}
	for _, g := range allGroups {
		from := st
		if !st.takes(g) {
			from = st.defaults
		}
		if err := g.check(from, &c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parse reads the flags. A flag error is returned as a usageError; -h
// prints the usage and returns flag.ErrHelp.
func (st *settings) parse(args []string) error {
	if err := st.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			st.usage()
			return err
		}
		return usageErrorf("%v", err)
	}
	if st.fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", st.fs.Arg(0))
	}
	return nil
}

func (st *settings) get(env string) string { return strings.TrimSpace(st.by[env].value) }

// bad formats the one-line error for a setting.
func (st *settings) bad(env, format string, args ...any) error {
	s := st.by[env]
	shown := ""
	if !s.secret && s.value != "" {
		shown = fmt.Sprintf(" %q", s.value)
	}
	return usageErrorf("invalid %s%s: %s", s.name(), shown, fmt.Sprintf(format, args...))
}

// resolve reads the secret settings given as files (see resolveSecret).
func (st *settings) resolve() error {
	for _, s := range st.list {
		if err := s.resolveSecret(); err != nil {
			return err
		}
	}
	return nil
}

// secret returns the value of the secret setting env, read from its file
// when given as one, for a command that needs that setting alone.
func (st *settings) secret(env string) (string, error) {
	s := st.by[env]
	if err := s.resolveSecret(); err != nil {
		return "", err
	}
	return strings.TrimSpace(s.value), nil
}

// resolveSecret reads a secret setting given as a file. Both forms from
// the same source (NAME and NAME_FILE, or --flag and --flag-file) are
// refused; a flag overrides the environment. The value of a file is its
// content without trailing white space; an empty file is refused.
func (s *setting) resolveSecret() error {
	if !s.secret {
		return nil
	}
	fileFlag := "--" + s.flag + "-file"
	useFile := false
	switch {
	case s.flagSet && s.flagFileSet:
		return usageErrorf("invalid %s: give --%s or %s, not both", s.name(), s.flag, fileFlag)
	case s.flagSet:
	case s.flagFileSet:
		useFile = true
	case s.envSet && s.envFileSet:
		return usageErrorf("invalid %s: both %s and %s_FILE are set; set one", s.name(), s.env, s.env)
	case s.envFileSet:
		useFile = true
	}
	if !useFile {
		return nil
	}
	v, err := readSecretFile(s.file)
	if err != nil {
		return usageErrorf("invalid %s_FILE (%s) %q: %v", s.env, fileFlag, s.file, err)
	}
	s.value, s.fromFile = v, true
	return nil
}

// readSecretFile reads a secret from a file, without trailing white space
// (a file written by echo ends in a newline). Its errors never hold the
// content.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read the file: %v", err)
	}
	v := strings.TrimRight(string(b), " \t\r\n")
	if v == "" {
		return "", fmt.Errorf("the file is empty")
	}
	return v, nil
}

// secretEnv reads a secret from the environment variable name or from the
// file named by name_FILE; both set is an error.
func secretEnv(getenv func(string) string, name string) (string, error) {
	v, hasV := lookupEnv(getenv, name)
	p, hasP := lookupEnv(getenv, name+"_FILE")
	switch {
	case hasV && hasP:
		return "", fmt.Errorf("both %s and %s_FILE are set; set one", name, name)
	case hasP:
		v, err := readSecretFile(p)
		if err != nil {
			return "", fmt.Errorf("%s_FILE %q: %v", name, p, err)
		}
		return v, nil
	}
	return v, nil
}

// lookupEnv treats an empty variable as unset.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// usage prints -h: the command's header, its own flags, then its settings
// group by group, each with its built-in default and its environment
// variable. A secret's default is shown (it is built in); a value the
// environment gives a secret never is.
func (st *settings) usage() {
	w := st.out
	fmt.Fprint(w, st.header)
	mine := map[string]bool{}
	for _, s := range st.list {
		mine[s.flag] = true
		if s.secret {
			mine[s.flag+"-file"] = true
		}
	}
	var own []*flag.Flag
	st.fs.VisitAll(func(f *flag.Flag) {
		if !mine[f.Name] {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		for _, f := range own {
			arg, help := flag.UnquoteUsage(f)
			switch t := reflect.TypeOf(f.Value); {
			case isZeroFlag(f):
			case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String:
				help += fmt.Sprintf(" (default %q)", f.DefValue)
			default:
				help += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			printFlag(w, f.Name, arg, help)
		}
	}
	for _, g := range st.groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, sp := range g.specs {
			st.printSetting(w, st.by[sp.env])
		}
	}
	fmt.Fprint(w, "\nEach setting above is a flag or its environment variable; the flag wins.\n")
}

// printSetting prints one setting for -h: the flag, its argument and
// help with the built-in default, then where else it can come from.
func (st *settings) printSetting(w io.Writer, s *setting) {
	arg, help, text := settingArg(s.spec)
	switch {
	case s.def == "":
	case text:
		help += fmt.Sprintf(" (default %q)", s.def)
	default:
		help += fmt.Sprintf(" (default %s)", s.def)
	}
	from := "env " + s.env
	switch {
	case s.secret && (s.envSet || s.envFileSet):
		from += " (set; a secret, not shown)"
	case s.envSet:
		from += fmt.Sprintf(" (set: %q)", s.value)
	case s.fromPort:
		from += fmt.Sprintf(" (unset: PORT makes it %q)", s.value)
	}
	if s.secret {
		from += "; secret: or from a file, " + s.env + "_FILE or --" + s.flag + "-file"
	}
	printFlag(w, s.flag, arg, help+"\n"+from)
}

// printFlag prints a flag as the flag package's PrintDefaults does, with
// two dashes.
func printFlag(w io.Writer, name, arg, help string) {
	line := "  --" + name
	if arg != "" {
		line += " " + arg
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(help, "\n", "\n    \t"))
}

// settingArg returns the argument name of a setting's flag, its help
// without back quotes, and whether its value is text (its default is
// quoted): the argument is the back-quoted word of the help, or the form
// of the default (true|false, duration, int, string).
func settingArg(sp spec) (arg, help string, text bool) {
	help = sp.help
	switch _, derr := time.ParseDuration(sp.def); {
	case sp.def == "true" || sp.def == "false":
		arg = "true|false"
	case derr == nil && sp.def != "0":
		arg = "duration"
	default:
		if _, err := strconv.Atoi(sp.def); err == nil {
			arg = "int"
		} else {
			arg, text = "string", true
		}
	}
	if i := strings.IndexByte(help, '`'); i >= 0 {
		if j := strings.IndexByte(help[i+1:], '`'); j >= 0 {
			arg = help[i+1 : i+1+j]
			help = help[:i] + arg + help[i+2+j:]
		}
	}
	return arg, help, text
}

// isZeroFlag reports whether f's default is its type's zero value, as the
// flag package decides whether to print it.
func isZeroFlag(f *flag.Flag) bool {
	t := reflect.TypeOf(f.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	v, ok := z.Interface().(flag.Value)
	return ok && f.DefValue == v.String()
}
