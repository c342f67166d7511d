package config

import (
	"reflect"
	"testing"
)

func TestMetricsWebConfig(t *testing.T) {
	c, err := Parse("/etc/tend/tend.toml", []byte("[daemon]\nmetrics_listen = \"127.0.0.1:9464\"\nmetrics_web_config = \"web.yml\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Daemon.MetricsWebConfig != "/etc/tend/web.yml" {
		t.Errorf("metrics_web_config = %q, want it resolved against the config's directory", c.Daemon.MetricsWebConfig)
	}
	_, err = parseString(t, "[daemon]\nmetrics_web_config = \"/etc/tend/web.yml\"\n")
	if got, want := configErrors(t, err), []string{"tend.toml:2: daemon.metrics_web_config: is only used with metrics_listen"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
