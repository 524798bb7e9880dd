# Built-in guardrail: every deploy, provision and scaffold request names an owner that is an
# existing Group in the catalog (`input.owner.ref`, `input.owner.exists`, `input.owner.kind`).
# Refused for production (deploys and provisions there); a warning everywhere else, so a
# developer can try a service in dev before its team is in the catalog.
# Override this file by putting a file named ownership.rego in the policy directory.
package goldenpath.ownership

import rego.v1

_production if input.environment.production == true

deny contains v if {
	_production
	some v in _findings
}

warn contains v if {
	not _production
	some v in _findings
}

# the owner fields (helper rules are computed once per decision; see workload.rego)
_owner := object.get(input, "owner", {})

_findings contains v if {
	not _owner.ref
	v := sprintf("owner-group: the %s request names no owner — fix: set the owner (metadata.team in platform.yaml, spec.owner in catalog-info.yaml) to a Group in the catalog", [input.action])
}

_findings contains v if {
	_owner.exists != true
	_owner.ref
	v := sprintf("owner-group: owner %s does not exist in the catalog — fix: register the Group in the catalog (`platform catalog register`) or name an existing one", [_owner.ref])
}

_findings contains v if {
	lower(_owner.kind) != "group"
	_owner.exists == true
	v := sprintf("owner-group: owner %s is a %s, not a Group — fix: make a team (a Group entity) the owner, e.g. group:default/team-a", [_owner.ref, _owner.kind])
}
