package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The schema is the Config type itself: its koanf tags name the keys.
// check walks a parsed file (or an override) along it, reports unknown
// keys and values of the wrong type with the key they are at, and
// returns the value in the one form koanf's Unmarshal then decodes
// without hooks: durations as time.Duration, sizes and integers as
// int64, a listener's string shorthand as {addr: ...}.

var (
	typeConfig   = reflect.TypeFor[Config]()
	typeDuration = reflect.TypeFor[time.Duration]()
	typeSize     = reflect.TypeFor[Size]()
	typeListener = reflect.TypeFor[Listener]()
	typePlugin   = reflect.TypeFor[Plugin]()
)

const (
	wantPluginName = "letters, digits, '-' and '_', starting with a letter or digit"
	wantDuration   = "a duration such as 500ms, 10s or 1m30s, or 0 for none"
	wantSize       = "a number of bytes, or a number and a unit such as 64KiB, 16MiB or 1GB"
)

// checker checks the values of one source.
type checker struct {
	src  string
	errs *errList
	// bad, if not nil, gets the key of each value left out for a
	// problem: see validator.tainted.
	bad *[]string
}

func (c *checker) fail(class error, key, msg, want string) {
	c.failAt(key, class, key, msg, want)
}

// failAt reports a problem at key, of the value at dropped that is left
// out for it.
func (c *checker) failAt(dropped string, class error, key, msg, want string) {
	c.errs.add(&Error{Source: c.src, Key: key, Msg: msg, Want: want, Err: class})
	if c.bad != nil {
		*c.bad = append(*c.bad, dropped)
	}
}

func (c *checker) wrongType(key string, v any, want string) {
	c.fail(ErrType, key, "got "+describe(v), want)
}

// check checks v, found at key, against t; ok is false if it reported a
// problem.
func (c *checker) check(key string, v any, t reflect.Type) (out any, ok bool) {
	switch t {
	case typeDuration:
		return c.duration(key, v)
	case typeSize:
		return c.size(key, v)
	case typeListener:
		if s, isStr := v.(string); isStr {
			return map[string]any{"addr": s}, true
		}
		if _, isMap := asMap(v); !isMap {
			c.wrongType(key, v, "an address such as tcp://127.0.0.1:65432, or a map with keys "+fieldList(t))
			return nil, false
		}
	}
	switch t.Kind() {
	case reflect.Interface:
		return plain(v), true // inside a plugin's settings
	case reflect.Pointer:
		return c.check(key, v, t.Elem())
	case reflect.Struct:
		return c.checkStruct(key, v, t)
	case reflect.Map:
		return c.checkMap(key, v, t)
	case reflect.Slice:
		if s, isStr := v.(string); isStr && t.Elem() == typeListener {
			v = []any{s} // listen: 127.0.0.1:65432, one address
		}
		rv := reflect.ValueOf(v)
		if v == nil || rv.Kind() != reflect.Slice {
			c.wrongType(key, v, want(t))
			return nil, false
		}
		out := make([]any, rv.Len())
		ok := true
		for i := range rv.Len() {
			nv, eok := c.check(fmt.Sprintf("%s[%d]", key, i), rv.Index(i).Interface(), t.Elem())
			ok = ok && eok
			out[i] = nv
		}
		return out, ok
	case reflect.String:
		if s, isStr := v.(string); isStr {
			return s, true
		}
		c.wrongType(key, v, "a string")
		return nil, false
	case reflect.Bool:
		if b, isBool := v.(bool); isBool {
			return b, true
		}
		c.wrongType(key, v, "true or false")
		return nil, false
	case reflect.Int, reflect.Int64:
		if n, isInt := asInt(v); isInt {
			return n, true
		}
		c.wrongType(key, v, "an integer")
		return nil, false
	}
	panic(fmt.Sprintf("config: no check for %s at %s", t, key))
}

// checkStruct checks v, found at key, against the struct type t: a map
// of t's keys. The values with a problem are left out of out, and what
// passed of a map or list is kept.
func (c *checker) checkStruct(key string, v any, t reflect.Type) (out any, ok bool) {
	m, isMap := asMap(v)
	if !isMap {
		c.wrongType(key, v, "a map with keys "+fieldList(t))
		return nil, false
	}
	tree := make(map[string]any, len(m))
	ok = true
	for _, k := range slices.Sorted(maps.Keys(m)) {
		sub := join(key, k)
		f, found := fieldByKey(t, k)
		if !found {
			c.unknownKey(sub, k, t)
			ok = false
			continue
		}
		if m[k] == nil {
			continue // "key:" with no value: as if left out
		}
		nv, fok := c.check(sub, m[k], f.Type)
		ok = ok && fok
		if nv != nil {
			tree[k] = nv // what passed of a map or list
		}
	}
	return tree, ok
}

// checkMap checks v, found at key, against the map type t: the plugins,
// a plugin's env or settings. The values with a problem are left out of
// out, and what passed of a plugin is kept.
func (c *checker) checkMap(key string, v any, t reflect.Type) (out any, ok bool) {
	m, isMap := asMap(v)
	if !isMap {
		c.wrongType(key, v, "a map")
		return nil, false
	}
	if t.Elem().Kind() == reflect.Interface {
		return plain(m), true // free-form: the plugin's settings
	}
	tree := make(map[string]any, len(m))
	ok = true
	for _, k := range slices.Sorted(maps.Keys(m)) {
		sub := join(key, k)
		switch {
		case t.Elem() == typePlugin && !pluginNameRE.MatchString(k):
			c.failAt(sub, ErrValue, key, fmt.Sprintf("invalid plugin name %q", k), wantPluginName)
		case m[k] == nil:
			c.fail(ErrType, sub, "got nothing", want(t.Elem()))
		case t.Elem().Kind() == reflect.String && isScalar(m[k]):
			// env: {PORT: 8080}: YAML reads a number.
			c.fail(ErrType, sub, "got "+describe(m[k]), fmt.Sprintf("a string: quote it, %q", fmt.Sprint(m[k])))
		default:
			nv, eok := c.check(sub, m[k], t.Elem())
			if nv != nil {
				tree[k] = nv // what passed of a plugin
			}
			if eok {
				continue
			}
		}
		ok = false
	}
	return tree, ok
}

func (c *checker) duration(key string, v any) (any, bool) {
	switch x := v.(type) {
	case time.Duration:
		return x, true
	case string:
		d, err := parseDuration(x)
		if n, nerr := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err != nil && nerr == nil && n != 0 {
			c.fail(ErrValue, key, fmt.Sprintf("got %q, a duration without a unit", x), fmt.Sprintf("a duration with a unit, such as %ds", n))
			return nil, false
		}
		if err != nil {
			c.fail(ErrValue, key, fmt.Sprintf("invalid duration %q", x), wantDuration)
			return nil, false
		}
		return d, true
	}
	if n, isInt := asInt(v); isInt {
		if n == 0 {
			return time.Duration(0), true
		}
		c.fail(ErrValue, key, fmt.Sprintf("got %s, a duration without a unit", describe(v)), fmt.Sprintf("a duration with a unit, such as %ds", n))
		return nil, false
	}
	c.wrongType(key, v, wantDuration)
	return nil, false
}

func (c *checker) size(key string, v any) (any, bool) {
	switch x := v.(type) {
	case Size:
		return int64(x), true
	case string:
		s, err := ParseSize(x)
		if err != nil {
			c.fail(ErrValue, key, fmt.Sprintf("invalid size %q", x), wantSize)
			return nil, false
		}
		return int64(s), true
	}
	if n, isInt := asInt(v); isInt {
		if n < 0 {
			c.fail(ErrValue, key, fmt.Sprintf("negative size %d", n), "0 or more bytes")
			return nil, false
		}
		return n, true
	}
	c.wrongType(key, v, wantSize)
	return nil, false
}

// unknownKey reports the key k of the struct type t, with the key it
// most likely meant.
func (c *checker) unknownKey(key, k string, t reflect.Type) {
	known := fieldKeys(t)
	msg := "unknown key"
	if s := suggest(k, known); s != "" {
		msg += fmt.Sprintf(", did you mean %q?", s)
	}
	c.fail(ErrUnknownKey, key, msg, "one of "+strings.Join(known, ", "))
}

// want describes what a value of type t looks like.
func want(t reflect.Type) string {
	switch t {
	case typeDuration:
		return wantDuration
	case typeSize:
		return wantSize
	case typeListener:
		return "an address, or a map with keys " + fieldList(typeListener)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.Struct:
		return "a map with keys " + fieldList(t)
	case reflect.Map:
		return "a map"
	case reflect.Slice:
		return "a list of " + pluralOf(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	}
	return t.String()
}

// pluralOf names values of type t in the plural, for "a list of ...": a
// struct's keys come from the schema.
func pluralOf(t reflect.Type) string {
	switch t {
	case typeDuration:
		return "durations"
	case typeSize:
		return "sizes"
	case typeListener:
		return "addresses"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return pluralOf(t.Elem())
	case reflect.Struct:
		return "maps with keys " + fieldList(t)
	case reflect.Map:
		return "maps"
	case reflect.Slice:
		return "lists of " + pluralOf(t.Elem())
	case reflect.String:
		return "strings"
	case reflect.Bool:
		return "booleans"
	case reflect.Int, reflect.Int64:
		return "integers"
	}
	return t.String() + " values"
}

// describe says what v is, for "got ...".
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case time.Duration:
		return "duration " + formatDuration(x)
	case time.Time:
		return "date " + x.Format(time.RFC3339)
	}
	if n, ok := asInt(v); ok {
		return fmt.Sprintf("integer %d", n)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return "number " + strconv.FormatFloat(rv.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a map"
	}
	return fmt.Sprintf("%T %v", v, v)
}

func isScalar(v any) bool {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// asInt returns v as an int64 if it is an integer: any Go integer type,
// or a float64 with an integral value (JSON numbers).
func asInt(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Type() == typeDuration {
			return 0, false
		}
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return 0, false
		}
		return int64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	}
	return 0, false
}

// asMap returns v as a map with string keys, if it is one.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[it.Key().String()] = it.Value().Interface()
		}
		return out, true
	}
	return nil, false
}

// plain returns v with every nested map as a map[string]any, so that it
// encodes as JSON, and every integer as an int64, so that the same
// settings read from YAML, TOML or JSON are equal.
func plain(v any) any {
	if isScalar(v) {
		if _, isBool := v.(bool); !isBool {
			if n, ok := asInt(v); ok {
				return n
			}
		}
		return v
	}
	if m, ok := asMap(v); ok {
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = plain(x)
		}
		return out
	}
	if s, ok := v.([]any); ok {
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = plain(x)
		}
		return out
	}
	return v
}

func join(key, k string) string {
	if key == "" {
		return k
	}
	return key + "." + k
}

// fieldByKey returns the field of struct type t whose koanf tag is k.
func fieldByKey(t reflect.Type, k string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("koanf") == k {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fieldKeys returns the keys of struct type t, in declaration order.
func fieldKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("koanf"); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func fieldList(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return strings.Join(fieldKeys(t), ", ")
}

// typeAt returns the type of the value at the dotted key path (plugin
// names included, as in "plugins.search.cmd"). Inside a free-form map
// (settings) every path is valid and of type any.
func typeAt(path string) (reflect.Type, bool) {
	t := typeConfig
	for seg := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByKey(t, seg)
			if !ok {
				return nil, false
			}
			t = f.Type
		case reflect.Map:
			if seg == "" {
				return nil, false
			}
			t = t.Elem()
		case reflect.Interface:
			return t, true
		default:
			return nil, false
		}
	}
	return t, true
}

// leaf is one key an environment variable can set.
type leaf struct {
	key string
	t   reflect.Type
}

// leaves returns every key that an environment variable can set: the
// scalars, lists and free-form maps of the schema, with the plugins'
// keys for each plugin in names.
func leaves(names []string) []leaf {
	var out []leaf
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		switch {
		case t.Kind() == reflect.Struct && t != typeListener:
			for _, k := range fieldKeys(t) {
				f, _ := fieldByKey(t, k)
				walk(join(prefix, k), f.Type)
			}
		case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
			for _, n := range names {
				walk(join(prefix, n), t.Elem())
			}
		default:
			out = append(out, leaf{prefix, t})
		}
	}
	walk("", typeConfig)
	return out
}
