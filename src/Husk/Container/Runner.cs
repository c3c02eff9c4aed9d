using Husk.Linux;

namespace Husk.Container;

/// <summary>`run`: create, start, and in the foreground wait for the container, forwarding signals, then delete it.</summary>
public static class Runner
{
    public static int Run(StateStore store, CreateOptions o, bool detach, bool keep)
    {
        if (!detach)
        {
            // The init is forked by the intermediate process and would be reparented to the host's
            // pid 1; as a subreaper we get it back and can wait for its exit status.
            Native.prctl(Native.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        // The spec is read once, for all of create, start and delete.
        var spec = Creator.Load(Path.GetFullPath(o.Bundle));
        // process.terminal in the foreground without --console-socket: the init sends the pty
        // master to us and we relay it (TerminalRelay), as runc does.
        var console = !detach && o.ConsoleSocket == null && o.ConsoleSocketFd < 0 && spec.Process?.Terminal == true
            ? TerminalRelay.NewConsoleSocketPair() : ((OwnedFd Parent, OwnedFd Child)?)null;
        using var consoleParent = console?.Parent;
        using var consoleChild = console?.Child;
        if (consoleChild != null) o.ConsoleSocketFd = consoleChild.Fd;
        // Without a terminal to relay first, the init is started the moment it is ready, while
        // create still writes the container's state.
        int released = -1;
        Action? whenReady = consoleParent == null ? () => released = Operations.ReleaseInit(store, o.Id) : null;
        ContainerHandle container;
        try { container = Creator.Create(store, o, spec, whenReady); }
        catch
        {
            if (released >= 0) Native.close(released);
            throw;
        }
        TerminalRelay? relay = null;
        try
        {
            if (consoleParent != null)
            {
                // Only the init keeps the console's end: should it die before it sends the master, Receive sees end-of-file.
                consoleChild!.Dispose();
                o.ConsoleSocketFd = -1;
                relay = TerminalRelay.Start(TerminalRelay.Receive(consoleParent));
            }
            if (released >= 0) Operations.CompleteStart(container, released, spec);
            else Operations.Start(store, o.Id, spec);
        }
        catch (HuskException)
        {
            relay?.Dispose();
            Operations.Delete(store, o.Id, force: true, spec);
            throw;
        }
        if (detach) return 0;

        int status;
        try
        {
            status = Foreground.WaitForwardingSignals(container.Record.Pid);
            relay?.Drain(TimeSpan.FromSeconds(2));
        }
        finally { relay?.Dispose(); }
        if (!keep) Operations.Delete(store, o.Id, force: true, spec);
        return Cleanup.ExitCode(status);
    }
}
