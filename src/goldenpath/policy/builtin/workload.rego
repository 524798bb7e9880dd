# Built-in guardrails for the workload being deployed (action "deploy").
#
# Input: see docs/policy.md ("Input documents"). Each rule yields one line, rule id: message — fix: how,
# under `deny` (the request is refused) or `warn` (it goes ahead with a warning).
# Override this file by putting a file named workload.rego in the policy directory.
#
# Cost with rego-cpp (measured): each step of a reference into `input` ~5 µs, a helper
# rule's value (computed once per decision, e.g. `_service`) ~2 µs, a call to a
# user-defined function under `not` milliseconds. So conditions several rules share are
# helper rules, and cheap conditions come first. A missing field is undefined and the rule
# does not fire.
package goldenpath.workload

import rego.v1

# the service being deployed (undefined for other actions, so no rule below fires)
_service := input.service if input.action == "deploy"

_production if input.environment.production == true

# production needs at least 2 replicas (a missing or null `replicas` means 1)
deny contains v if {
	_production
	raw := object.get(_service, "replicas", null)
	replicas := {"number": raw, "null": 1}[type_name(raw)]
	replicas < 2
	v := sprintf("production-replicas: service %s runs %d replica(s) in %s; production needs at least 2 — fix: set `replicas: 2` (or more) in platform.yaml", [_service.name, replicas, input.environment.name])
}

# production needs CPU and memory limits
deny contains v if {
	_production
	some field in ["cpu", "memory"]
	object.get(_service, field, null) in {null, ""}
	v := sprintf("production-limits: service %s has no %s limit; production needs CPU and memory limits — fix: set `resources.%s` in platform.yaml (e.g. cpu: 500m, memory: 256Mi)", [_service.name, field, field])
}

# no `latest` or untagged images: refused in production, a warning elsewhere
deny contains v if {
	_production
	some v in _image_findings
}

warn contains v if {
	input.environment.production != true
	some v in _image_findings
}

_image_findings contains v if {
	some image in _service.images
	not contains(image, "@")
	problem := _tag_problem(image)
	repository := trim_suffix(image, ":latest")
	v := sprintf("image-tag: image %s %s; pin a version so a deploy is reproducible — fix: use an explicit tag or digest, e.g. %s:1.2.3 or %s@sha256:…", [image, problem, repository, repository])
}

_tag_problem(image) := "uses the `latest` tag" if endswith(image, ":latest")

_tag_problem(image) := "has no tag" if not contains(image, ":")

# a registry with a port (`localhost:5000/shop`): the tag belongs to the last path segment
_tag_problem(image) := "has no tag" if {
	contains(image, "/")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
}

# tier: critical needs an SLO
deny contains v if {
	_service.tier == "critical"
	object.get(_service, "slo", null) in {null, {}}
	v := sprintf("critical-slo: service %s is tier critical but declares no SLO — fix: add an `slo:` section (e.g. availability: 99.9) to platform.yaml, or lower the tier", [_service.name])
}

# a network policy is always generated
deny contains v if {
	_service.network_policy == false
	v := sprintf("network-policy: service %s turns off its generated network policy — fix: remove `network_policy: false`; declare the traffic you need under `dependencies` instead", [_service.name])
}
