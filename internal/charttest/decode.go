package charttest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Objects are the objects one rendering produced, each decoded strictly.
type Objects struct {
	Deployment     *appsv1.Deployment
	Service        *corev1.Service
	PDB            *policyv1.PodDisruptionBudget
	HPA            *autoscalingv2.HorizontalPodAutoscaler
	ServiceAccount *corev1.ServiceAccount
	ConfigMaps     []*corev1.ConfigMap
	ServiceMonitor *ServiceMonitor
	PrometheusRule *PrometheusRule
	// Kinds lists every document's kind in the order rendered.
	Kinds []string
}

// ServiceMonitor is the part of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor the chart may use: a field
// outside this allow-list fails Decode. The JSON names are the CRD's.
type ServiceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta  `json:"metadata"`
	Spec            ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec is the allowed part of a ServiceMonitor's spec.
type ServiceMonitorSpec struct {
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector *NamespaceSelector   `json:"namespaceSelector,omitempty"`
	JobLabel          string               `json:"jobLabel,omitempty"`
	Endpoints         []MonitorEndpoint    `json:"endpoints"`
}

// NamespaceSelector is a ServiceMonitor's namespaceSelector.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// MonitorEndpoint is the allowed part of a ServiceMonitor endpoint.
type MonitorEndpoint struct {
	Port          string                `json:"port,omitempty"`
	Path          string                `json:"path,omitempty"`
	Scheme        string                `json:"scheme,omitempty"`
	Interval      string                `json:"interval,omitempty"`
	ScrapeTimeout string                `json:"scrapeTimeout,omitempty"`
	HonorLabels   bool                  `json:"honorLabels,omitempty"`
	Authorization *MonitorAuthorization `json:"authorization,omitempty"`
}

// MonitorAuthorization is an endpoint's authorization (SafeAuthorization
// in the CRD): the credentials are a Secret reference.
type MonitorAuthorization struct {
	Type        string                    `json:"type,omitempty"`
	Credentials *corev1.SecretKeySelector `json:"credentials,omitempty"`
}

// PrometheusRule is the part of monitoring.coreos.com/v1 PrometheusRule
// the chart may use.
type PrometheusRule struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Groups []RuleGroup `json:"groups"`
	} `json:"spec"`
}

// RuleGroup is a PrometheusRule group.
type RuleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []Rule `json:"rules"`
}

// Rule is an alerting or recording rule.
type Rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Decode splits a rendering into its documents and decodes each strictly
// into the type its apiVersion and kind name (see strict): an unknown field, a
// duplicated key, an unknown kind, or a second object of a kind the chart
// renders once is an error naming the document's source.
func Decode(manifest string) (*Objects, error) {
	objs := &Objects{}
	for _, doc := range docSep.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", source(doc), err)
		}
		objs.Kinds = append(objs.Kinds, tm.Kind)
		if err := objs.decode(tm, doc); err != nil {
			return nil, fmt.Errorf("%s (%s %s): %w", source(doc), tm.APIVersion, tm.Kind, err)
		}
	}
	return objs, nil
}

func (o *Objects) decode(tm metav1.TypeMeta, doc string) error {
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return once(&o.Deployment, doc)
	case "v1 Service":
		return once(&o.Service, doc)
	case "policy/v1 PodDisruptionBudget":
		return once(&o.PDB, doc)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return once(&o.HPA, doc)
	case "v1 ServiceAccount":
		return once(&o.ServiceAccount, doc)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return once(&o.ServiceMonitor, doc)
	case "monitoring.coreos.com/v1 PrometheusRule":
		return once(&o.PrometheusRule, doc)
	case "v1 ConfigMap":
		var cm corev1.ConfigMap
		if err := strict(doc, &cm); err != nil {
			return err
		}
		o.ConfigMaps = append(o.ConfigMaps, &cm)
		return nil
	}
	return fmt.Errorf("a kind the chart is not known to render")
}

// once decodes doc strictly into a new *T stored in *dst, which must be nil.
func once[T any](dst **T, doc string) error {
	if *dst != nil {
		return fmt.Errorf("rendered twice")
	}
	v := new(T)
	if err := strict(doc, v); err != nil {
		return err
	}
	*dst = v
	return nil
}

// strict decodes one YAML document as the API server's strict field
// validation does (sigs.k8s.io/json, as apimachinery's strict serializer):
// field names are case-sensitive, and an unknown or duplicated field is an
// error naming its path.
func strict(doc string, v any) error {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// source returns the "# Source: …" line helm puts at the top of a document.
func source(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
			return s
		}
	}
	return "a document"
}

// Container returns the Deployment's container named name, or nil.
func (o *Objects) Container(name string) *corev1.Container {
	if o.Deployment == nil {
		return nil
	}
	for i := range o.Deployment.Spec.Template.Spec.Containers {
		if c := &o.Deployment.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	return nil
}

// ConfigMap returns the rendered ConfigMap named name, or nil.
func (o *Objects) ConfigMap(name string) *corev1.ConfigMap {
	for _, cm := range o.ConfigMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}
