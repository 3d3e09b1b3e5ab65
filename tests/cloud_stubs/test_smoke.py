from cloud_harness import Cloud


def test_plugin_loads_from_entry_point(cloud: Cloud) -> None:
    info = next(p for p in cloud.host.plugins if p.name == "cloud")
    assert info.status == "loaded", info.reason
    assert info.distribution == "lanterna-cloud-stubs"
    assert "tenant_from_request" in info.hooks and "active_plan" in info.hooks


def test_guarded_operation_as_tenant(cloud: Cloud) -> None:
    key = cloud.key("acme")
    assert cloud.run(cloud.http(key)) == "acme"
    assert len(cloud.audit_lines()) == 1


def test_bad_cloud_config_is_reported_not_fatal(cloud: Cloud) -> None:
    cloud.configure(roles="owner")  # must be a list
    info = next(p for p in cloud.host.plugins if p.name == "cloud")
    assert info.status == "failed"
    assert info.reason == (
        'could not be set up: ConfigError: [cloud] roles must be a list of role names, e.g. roles = ["owner"]'
    )
    assert cloud.host.pm.get_plugin("cloud") is None  # the core goes on without it
