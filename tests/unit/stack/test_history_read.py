"""Reading the stack history while an update rewrites the file backend's checkpoint."""

import pytest
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import CommandError

from provisioner.stack import operations
from provisioner.stack.operations import FleetStack


class FakeStack:
    def __init__(self, failures, error="error: failed to load checkpoint: EOF"):
        self.failures, self.error, self.calls = failures, error, []

    def history(self, page_size=None, page=None):
        self.calls.append((page_size, page))
        if self.failures:
            self.failures -= 1
            raise CommandError(CommandResult("", self.error, 1))
        return []


def fleet_with(stack):
    fleet = FleetStack.__new__(FleetStack)
    fleet._stack = stack
    return fleet


def test_a_half_written_checkpoint_is_read_again_and_every_page_is_asked_for(monkeypatch):
    monkeypatch.setattr(operations.time, "sleep", lambda s: None)
    stack = FakeStack(failures=3)
    assert fleet_with(stack).history() == []
    assert len(stack.calls) == 4
    assert all(c == (operations.HISTORY_PAGE, 1) for c in stack.calls)


def test_other_errors_and_persistent_ones_are_raised(monkeypatch):
    monkeypatch.setattr(operations.time, "sleep", lambda s: None)
    with pytest.raises(CommandError):
        fleet_with(FakeStack(failures=1, error="error: no stack named 'x' found")).history()
    with pytest.raises(CommandError):
        fleet_with(FakeStack(failures=operations.HISTORY_READ_ATTEMPTS)).history()


def test_selecting_the_stack_over_a_half_written_checkpoint_is_tried_again(monkeypatch, tmp_path):
    # the e2e suite caught this one: a test's probe built a FleetStack while the controller's
    # update was writing the checkpoint, and `pulumi stack select` failed on it
    from types import SimpleNamespace

    monkeypatch.setattr(operations.time, "sleep", lambda s: None)
    monkeypatch.setattr(operations.toolchain, "ensure", lambda *a, **k: {"pulumi": SimpleNamespace(home=tmp_path)})
    calls = []

    def select(**kwargs):
        calls.append(kwargs["stack_name"])
        if len(calls) < 3:
            raise CommandError(CommandResult("", "error: failed to load checkpoint: EOF", 1))
        return "the stack"

    monkeypatch.setattr(operations.auto, "create_or_select_stack", select)
    monkeypatch.setattr(operations.auto, "PulumiCommand", lambda **kwargs: None)
    (tmp_path / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    target = SimpleNamespace(stack="dev", project_dir=tmp_path, env=lambda: {})
    assert FleetStack(target)._stack == "the stack"
    assert calls == ["dev"] * 3
