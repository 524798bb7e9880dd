# Built-in guardrail: databases in production need backups — on a deploy (each entry of
# `input.service.resources`) and on a provision request (`input.resource`).
# Override this file by putting a file named resources.rego in the policy directory.
package goldenpath.resources

import rego.v1

databases := {"postgres", "mysql", "mariadb", "mongodb"}

deny contains v if {
	input.action == "deploy"
	input.environment.production == true
	some r in input.service.resources
	v := _no_backups(r)
}

deny contains v if {
	input.action == "provision"
	input.environment.production == true
	v := _no_backups(input.resource)
}

_no_backups(r) := v if {
	r.type in databases
	object.get(r, "backups", false) != true
	v := sprintf("production-backups: %s database %s in %s has backups turned off — fix: set `backups: true` on the database (production databases are backed up)", [r.type, r.name, input.environment.name])
}
