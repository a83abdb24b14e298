using System.Runtime.CompilerServices;
using System.Security.Claims;
using FluentValidation;
using Marten;
using Mediator;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Quartz;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Application.Ha;
using Ssm.Application.Users;
using Ssm.Domain.Accounts;
using Ssm.Domain.Users;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Features.Authorization;

/// <summary>Every message declares who may send it, and the validation behavior refuses everyone else (decision 0017).</summary>
[Collection(CoreCollection.Name)]
public sealed class SenderTests(CoreFixture fixture) : IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await fixture.ResetAsync();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static readonly ClaimsPrincipal Anonymous = new(new ClaimsIdentity());
    private static readonly ClaimsPrincipal Viewer = CurrentUser.For("victor", CurrentUser.ViewerRole);
    private static readonly ClaimsPrincipal Admin = CurrentUser.For("alice", CurrentUser.AdminRole);

    /// <summary>Every mediator message of the application, found by reflection rather than listed by hand.</summary>
    private static IReadOnlyList<Type> Messages() => typeof(Application.DependencyInjection).Assembly.GetTypes()
        .Where(t => t is { IsClass: true, IsAbstract: false, IsGenericTypeDefinition: false }
            && (typeof(IMessage).IsAssignableFrom(t) || typeof(IStreamMessage).IsAssignableFrom(t)))
        .OrderBy(t => t.FullName)
        .ToList();

    private static IEnumerable<Type> Declaring(SenderRole role) => Messages().Where(t => Senders.DeclaredBy(t) == role);

    /// <summary>Sends a message with nothing filled in: the sender check comes before validation, so only it can answer.</summary>
    private async Task<Exception?> SendBlankAs(ClaimsPrincipal principal, Type message)
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<CurrentUser>().Principal = principal;
        try
        {
            await scope.ServiceProvider.GetRequiredService<ISender>().Send(RuntimeHelpers.GetUninitializedObject(message));
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private async Task ShouldAllBeRefused(ClaimsPrincipal principal, IEnumerable<Type> messages)
    {
        var let = new List<string>();
        foreach (var message in messages)
            if (await SendBlankAs(principal, message) is not ForbiddenException)
                let.Add(message.Name);
        let.ShouldBeEmpty($"not refused to {principal.Identity?.Name ?? "anonymous"}");
    }

    [Fact]
    public void Every_message_declares_who_may_send_it()
    {
        var messages = Messages();

        messages.Count.ShouldBeGreaterThan(40);
        messages.Where(t => Senders.DeclaredBy(t) is null).Select(t => t.FullName).ShouldBeEmpty();
        foreach (var role in Enum.GetValues<SenderRole>())
            Declaring(role).ShouldNotBeEmpty($"no message is {role}: is the enumeration still finding them?");
    }

    [Fact]
    public void No_message_is_a_notification_or_a_stream_which_the_validation_behavior_would_not_see()
    {
        // Mediator runs IPipelineBehavior for requests, commands and queries only; a new kind needs its own check first.
        Messages().Where(t => typeof(INotification).IsAssignableFrom(t) || typeof(IStreamMessage).IsAssignableFrom(t))
            .Select(t => t.FullName).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_viewer_is_refused_every_admin_message()
    {
        await ShouldAllBeRefused(Viewer, Declaring(SenderRole.Admin));

        await Should.ThrowAsync<ForbiddenException>(() => fixture.SendAs(Viewer, new CreateAccount("Lab", "", "ops@example.com")));
        await using var session = fixture.Query();
        (await session.Query<LocalAccount>().CountAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task A_signed_in_admin_a_viewer_and_an_anonymous_caller_are_refused_every_internal_message()
    {
        Declaring(SenderRole.Internal).ShouldContain(typeof(TeardownCluster));
        await ShouldAllBeRefused(Admin, Declaring(SenderRole.Internal));
        await ShouldAllBeRefused(Viewer, Declaring(SenderRole.Internal));
        await ShouldAllBeRefused(Anonymous, Declaring(SenderRole.Internal));
    }

    [Fact]
    public async Task An_anonymous_caller_is_refused_every_viewer_and_admin_message()
    {
        await ShouldAllBeRefused(Anonymous, Declaring(SenderRole.Viewer).Concat(Declaring(SenderRole.Admin)));
    }

    [Fact]
    public async Task An_anonymous_caller_may_send_a_public_message_and_the_node_an_internal_one()
    {
        (await fixture.SendAs(Anonymous, new SignIn("mallory", "whatever password"))).Succeeded.ShouldBeFalse();
        (await fixture.SendAs(CurrentUser.Node, new HasAnyUser())).ShouldBeFalse();
        await fixture.SendAs(CurrentUser.Console, new SetUserPassword("admin", "a long enough password", UserRole.Admin));
        (await fixture.SendAs(CurrentUser.Node, new HasAnyUser())).ShouldBeTrue();
    }

    [Fact]
    public async Task A_request_that_claims_the_node_role_is_not_the_node()
    {
        var forged = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, "mallory"), new Claim(ClaimTypes.Role, CurrentUser.NodeRole), new Claim(ClaimTypes.Role, CurrentUser.AdminRole)], "ssm"));
        var user = new CurrentUser(new HttpContextAccessor { HttpContext = new DefaultHttpContext { User = forged } });

        user.IsNode.ShouldBeFalse();
        Senders.RoleOf(user).ShouldBe(SenderRole.Admin);
        var ran = false;
        await Should.ThrowAsync<ForbiddenException>(() => new ValidationBehavior<ClusterTick, Unit>([], user)
            .Handle(new ClusterTick(), (_, _) => { ran = true; return ValueTask.FromResult(Unit.Value); }, CancellationToken.None).AsTask());
        ran.ShouldBeFalse();
    }

    [Fact]
    public async Task An_undeclared_message_is_refused_even_to_the_node_before_its_validators_and_handler_run()
    {
        var node = new CurrentUser(new HttpContextAccessor()) { Principal = CurrentUser.Node };
        var validator = new CountingValidator<Undeclared>();
        var ran = false;

        var refused = await Should.ThrowAsync<ForbiddenException>(() => new ValidationBehavior<Undeclared, int>([validator], node)
            .Handle(new Undeclared(), (_, _) => { ran = true; return ValueTask.FromResult(1); }, CancellationToken.None).AsTask());

        refused.Message.ShouldContain(nameof(Undeclared));
        (ran, validator.Calls).ShouldBe((false, 0));
        // The same behavior lets a declared message through: the refusal above is the missing declaration's.
        var declared = new CountingValidator<DeclaredInternal>();
        (await new ValidationBehavior<DeclaredInternal, int>([declared], node)
            .Handle(new DeclaredInternal(), (_, _) => ValueTask.FromResult(7), CancellationToken.None)).ShouldBe(7);
        declared.Calls.ShouldBe(1);
    }

    [Fact]
    public async Task A_Quartz_job_runs_as_the_node()
    {
        var options = fixture.Services.GetRequiredService<IOptions<JobFactoryOptions>>().Value;
        await using var scope = fixture.Services.CreateAsyncScope();

        options.ConfigureScope.ShouldNotBeNull()(scope, null!, null!);

        var user = scope.ServiceProvider.GetRequiredService<ICurrentUser>();
        (user.IsNode, Senders.RoleOf(user)).ShouldBe((true, SenderRole.Internal));
        // And no scope is the node unless made so: a fresh one (an HTTP request's, a circuit's) is anonymous.
        await using var fresh = fixture.Services.CreateAsyncScope();
        Senders.RoleOf(fresh.ServiceProvider.GetRequiredService<ICurrentUser>()).ShouldBe(SenderRole.Public);
    }

    public sealed record Undeclared : ICommand<int>;

    [Sender(SenderRole.Internal)]
    public sealed record DeclaredInternal : ICommand<int>;

    private sealed class CountingValidator<T> : AbstractValidator<T>
    {
        public int Calls { get; private set; }

        public CountingValidator() => RuleFor(x => x).Must(_ => ++Calls > 0);
    }
}
