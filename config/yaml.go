package config

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// YAML writes c as a config file that Load reads back to the same config:
// every key, in the order of Config, the defaults included. Durations and
// sizes are written as a person would ("10s", "16MiB"); what is empty (a
// plugin's args, a route's action) is left out. Listeners, routes and
// restart policies take one line each. `router config check` prints the
// effective config this way. A config loaded for a worker has no listen
// and routes, and one loaded for a router no worker section: neither
// reads them.
func (c *Config) YAML() ([]byte, error) {
	root, err := yamlNode(reflect.ValueOf(*c), "")
	if err != nil {
		return nil, err
	}
	// A router does not read the worker section. (A worker's config has
	// no listeners and routes: see LoadOptions.Worker.)
	if !c.worker {
		for i := 0; i < len(root.Content); i += 2 {
			if root.Content[i].Value == "worker" {
				root.Content = slices.Delete(root.Content, i, i+2)
				break
			}
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, fmt.Errorf("cannot write the config as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cannot write the config as YAML: %w", err)
	}
	return b.Bytes(), nil
}

var (
	typeRoute    = reflect.TypeFor[Route]()
	typeRestart  = reflect.TypeFor[Restart]()
	typeEndpoint = reflect.TypeFor[Endpoint]()
)

// yamlNode returns the node for v, found at key.
func yamlNode(v reflect.Value, key string) (*yaml.Node, error) {
	switch v.Type() {
	case typeDuration:
		return scalar(formatDuration(time.Duration(v.Int())))
	case typeSize:
		s := Size(v.Int()).String()
		if strings.Trim(s, "0123456789") == "" {
			return scalar(v.Int()) // no unit: a number
		}
		return scalar(s)
	case typeListener:
		if l := v.Interface().(Listener); !l.Raw && l.Plugin == "" && l.TLS == nil {
			return scalar(l.Addr) // the short form
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return scalar(nil)
		}
		return yamlNode(v.Elem(), key)
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if t := v.Type(); t == typeListener || t == typeRoute || t == typeRestart || t == typeEndpoint {
			n.Style = yaml.FlowStyle
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			k := f.Tag.Get("koanf")
			if k == "" || !f.IsExported() || omit(v.Field(i)) {
				continue
			}
			val, err := yamlNode(v.Field(i), key+"."+k)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, val)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			kn, err := scalar(k.String())
			if err != nil {
				return nil, err
			}
			val, err := yamlNode(v.MapIndex(k), key+"."+k.String())
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, kn, val)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			val, err := yamlNode(v.Index(i), fmt.Sprintf("%s[%d]", key, i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	}
	return scalar(v.Interface())
}

// scalar returns the node of a scalar, quoted where YAML would read it
// as another type.
func scalar(v any) (*yaml.Node, error) {
	n := new(yaml.Node)
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return n, nil
}

// omit reports whether a field is left out: empty lists, maps and
// strings, false, and nil pointers. Numbers, durations and sizes are
// kept even at 0, which means "none".
func omit(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}
