package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"
)

// k8sObject is the part of a Kubernetes object the test checks.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		// Deployment
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				EnableServiceLinks *bool `yaml:"enableServiceLinks"`
				SecurityContext    struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// PodDisruptionBudget
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
		// Service (its selector is a plain map)
		ServiceSelector map[string]string
		Ports           []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe    *k8sProbe `yaml:"startupProbe"`
	ReadinessProbe  *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe   *k8sProbe `yaml:"livenessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

// readManifests decodes every document of a multi-document YAML file.
func readManifests(t *testing.T, path string) []k8sObject {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var obj k8sObject
		if err := node.Decode(&obj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if obj.Kind == "Service" {
			var svc struct {
				Spec struct {
					Selector map[string]string `yaml:"selector"`
				} `yaml:"spec"`
			}
			if err := node.Decode(&svc); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			obj.Spec.ServiceSelector = svc.Spec.Selector
		}
		out = append(out, obj)
	}
}

// selects reports whether selector matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesManifests checks deploy/kubernetes: one Deployment per
// component running the binary's own flags and settings, probes on the
// engine's port and paths, resources, a non-root read-only container, a
// PodDisruptionBudget each, and a Service for the API.
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(deployDir, "kubernetes")
	var kust struct {
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name string `yaml:"name"`
		} `yaml:"images"`
		ConfigMapGenerator []struct {
			Name string   `yaml:"name"`
			Envs []string `yaml:"envs"`
		} `yaml:"configMapGenerator"`
		SecretGenerator []struct {
			Name string   `yaml:"name"`
			Envs []string `yaml:"envs"`
		} `yaml:"secretGenerator"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if len(kust.ConfigMapGenerator) != 1 || len(kust.SecretGenerator) != 1 || len(kust.Images) != 1 {
		t.Fatalf("kustomization.yaml: want one ConfigMap, one Secret and one image, got %+v", kust)
	}

	// The environment every container gets: the ConfigMap's and the
	// Secret's (whose file the operator makes from its .example).
	env := map[string]string{}
	var envKeys []string
	settings := settingsByEnv()
	for _, f := range kust.ConfigMapGenerator[0].Envs {
		keys, values := readEnvFile(t, filepath.Join(dir, f))
		envKeys = append(envKeys, keys...)
		for k, v := range values {
			env[k] = v
			if s := settings[k]; s != nil && s.secret {
				t.Errorf("%s sets %s, a secret: it belongs in the Secret", f, k)
			}
		}
	}
	for _, f := range kust.SecretGenerator[0].Envs {
		keys, values := readEnvFile(t, filepath.Join(dir, f+".example"))
		for _, k := range keys {
			if _, both := env[k]; both {
				t.Errorf("%s is in the ConfigMap and the Secret", k)
			}
			if s := settings[k]; s != nil && !s.secret {
				t.Errorf("%s.example sets %s, which is no secret: it belongs in the ConfigMap", f, k)
			}
			if v := values[k]; v != "" {
				t.Errorf("%s.example gives %s a value: leave secrets empty in the template", f, k)
			}
		}
		for _, k := range []string{"ATTRIB_ADMIN_TOKEN", "ATTRIB_SECRET_KEY", "ATTRIB_REDIS_URL", "ATTRIB_CLICKHOUSE_URL"} {
			if !slices.Contains(keys, k) {
				t.Errorf("%s.example lacks %s: the Secret must carry it", f, k)
			}
		}
		envKeys = append(envKeys, keys...)
	}
	checkEnvNames(t, "kubernetes config.env and secrets.env", envKeys)

	var objects []k8sObject
	for _, r := range kust.Resources {
		objects = append(objects, readManifests(t, filepath.Join(dir, r))...)
	}

	components := map[string]k8sObject{}
	var port int
	for _, d := range objects {
		if d.Kind != "Deployment" {
			continue
		}
		where := "Deployment " + d.Metadata.Name
		pod := d.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", where, len(pod.Containers))
			continue
		}
		c := pod.Containers[0]
		if c.Image != kust.Images[0].Name {
			t.Errorf("%s runs image %q; kustomization.yaml sets %q", where, c.Image, kust.Images[0].Name)
		}
		if len(c.Command) > 0 {
			t.Errorf("%s overrides the image's entrypoint: %v", where, c.Command)
		}
		// The container's own environment on top of envFrom's.
		cenv := map[string]string{}
		for k, v := range env {
			cenv[k] = v
		}
		var names []string
		for _, e := range c.Env {
			cenv[e.Name] = e.Value
			names = append(names, e.Name)
		}
		checkEnvNames(t, where, names, "GOMEMLIMIT", "GOGC")
		var refs []string
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				refs = append(refs, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil {
				refs = append(refs, ef.SecretRef.Name)
			}
		}
		if want := []string{kust.ConfigMapGenerator[0].Name, kust.SecretGenerator[0].Name}; !slices.Equal(refs, want) {
			t.Errorf("%s takes its environment from %v, want %v", where, refs, want)
		}
		ec, positional, err := parseCommandLine(c.Args, env2(cenv))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(positional) > 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
			t.Errorf("%s: args %v: want serve --components <component>", where, c.Args)
		}
		comp := onlyComponent(t, where, ec)
		if d.Metadata.Name != "attrib-"+comp {
			t.Errorf("%s runs %s: name it attrib-%s", where, comp, comp)
		}
		if _, dup := components[comp]; dup {
			t.Errorf("component %s has two Deployments", comp)
		}
		components[comp] = d
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
			t.Errorf("%s: want replicas of at least 1", where)
		}
		if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || d.Spec.Template.Metadata.Labels["app.kubernetes.io/component"] != comp {
			t.Errorf("%s: selector %v, pod labels %v: want the pods labelled with their component", where, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
		}

		// The port and the probes.
		p := httpPort(t, ec)
		if port == 0 {
			port = p
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != p {
			t.Errorf("%s: ports %+v, want one named http on %d, the port of ATTRIB_HTTP_ADDR", where, c.Ports, p)
		}
		if a := d.Spec.Template.Metadata.Annotations["prometheus.io/port"]; a != strconv.Itoa(p) {
			t.Errorf("%s: prometheus.io/port %q, want %d", where, a, p)
		}
		for _, probe := range []struct {
			name string
			p    *k8sProbe
			path string
		}{{"startupProbe", c.StartupProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if probe.p == nil || probe.p.HTTPGet == nil || probe.p.HTTPGet.Path != probe.path || probe.p.HTTPGet.Port != "http" {
				t.Errorf("%s: %s must GET %s on port http", where, probe.name, probe.path)
			}
		}

		// Resources, and a non-root container that writes nothing.
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: resources %+v: want cpu and memory requests and a memory limit", where, c.Resources)
		}
		if cenv["GOMEMLIMIT"] == "" {
			t.Errorf("%s: want GOMEMLIMIT below the memory limit (the binary runs at GOGC=400)", where)
		}
		sc := pod.SecurityContext
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != imageUID {
			t.Errorf("%s: want runAsNonRoot and runAsUser %d, the image's user", where, imageUID)
		}
		csc := c.SecurityContext
		if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || !slices.Equal(csc.Capabilities.Drop, []string{"ALL"}) {
			t.Errorf("%s: want a read-only root file system, no privilege escalation, every capability dropped", where)
		}
		if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
			t.Errorf("%s: want enableServiceLinks: false (Services named attrib-* would add ATTRIB_* variables)", where)
		}
		for _, e := range c.Env {
			if s := settings[e.Name]; s != nil && s.secret {
				t.Errorf("%s sets the secret %s in the manifest: it belongs in the Secret", where, e.Name)
			}
		}
	}
	for _, c := range componentNames {
		if _, ok := components[c]; !ok {
			t.Errorf("component %s has no Deployment", c)
		}
	}

	// A PodDisruptionBudget per Deployment, and the API's Service.
	for comp, d := range components {
		labels := d.Spec.Template.Metadata.Labels
		var pdbs, services int
		for _, o := range objects {
			switch o.Kind {
			case "PodDisruptionBudget":
				if selects(o.Spec.Selector.MatchLabels, labels) {
					pdbs++
					if o.Spec.MaxUnavailable == nil && o.Spec.MinAvailable == nil {
						t.Errorf("PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", o.Metadata.Name)
					}
				}
			case "Service":
				if selects(o.Spec.ServiceSelector, labels) {
					services++
					for _, p := range o.Spec.Ports {
						if p.TargetPort != "http" {
							t.Errorf("Service %s: targetPort %v, want http", o.Metadata.Name, p.TargetPort)
						}
					}
				}
			}
		}
		if pdbs != 1 {
			t.Errorf("component %s: %d PodDisruptionBudgets select its pods, want 1", comp, pdbs)
		}
		if want := map[bool]int{true: 1, false: 0}[comp == "api"]; services != want {
			t.Errorf("component %s: %d Services select its pods, want %d", comp, services, want)
		}
	}
}
