using AngleSharp.Dom;
using Bunit;
using FluentValidation;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Ssm.Application.Accounts;
using Ssm.Application.Common;
using Ssm.Tests.Support;
using Ssm.Web.Security;

namespace Ssm.Tests.Components;

/// <summary>bUnit with MudBlazor and the node's real message handling on the test database.</summary>
public static class ComponentTestContext
{
    /// <param name="claims">More claims of the signed-in user, such as account grants (<see cref="CurrentUser.GrantClaim"/>).</param>
    public static BunitContext Create(ServiceFixture fixture, string user, string role, params System.Security.Claims.Claim[] claims) =>
        Create(fixture.Services, user, role, claims);

    /// <summary>As <see cref="Create(ServiceFixture,string,string,System.Security.Claims.Claim[])"/>, on a node's services of the test's own making (a torn-down node, say).</summary>
    public static BunitContext Create(IServiceProvider node, string user, string role, params System.Security.Claims.Claim[] claims)
    {
        // The pages send real commands to PostgreSQL: on a busy 2-core runner bUnit's 1 s default wait is too short.
        BunitContext.DefaultWaitTimeout = TimeSpan.FromSeconds(10);
        var context = new BunitContext();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        context.Services.AddMudServices();
        context.AddAuthorization().SetAuthorized(user).SetRoles(role).SetClaims(claims);
        context.Services.AddSingleton(node.GetRequiredService<ChangeNotifier>());
        context.Services.AddSingleton(node.GetRequiredService<IValidator<CreateAccount>>());
        context.Services.AddSingleton(node.GetRequiredService<IValidator<Application.Registration.CreateRegistrationToken>>());
        context.Services.AddSingleton(node.GetRequiredService<IValidator<Application.Users.CreateUser>>());
        context.Services.AddScoped(sp => new UiSender(
            node.GetRequiredService<IServiceScopeFactory>(), sp.GetRequiredService<AuthenticationStateProvider>()));
        return context;
    }

    /// <summary>The input element of a MudBlazor field marked with data-testid.</summary>
    public static IElement Input(this IRenderedComponent<Microsoft.AspNetCore.Components.IComponent> cut, string testId) =>
        cut.FindAll($"input[data-testid={testId}]").FirstOrDefault() ?? cut.Find($"[data-testid={testId}] input");

    /// <summary>
    /// Clicks the <paramref name="index"/>th element marked with data-testid once it is there, and waits for its handler.
    /// Finding and clicking happen in one step on the renderer's dispatcher: a page that re-renders on its own (a change
    /// notification) could otherwise replace the button's handler in between, and bUnit would refuse the stale handler
    /// id (and report it again at the next assertion) with nothing clicked.
    /// </summary>
    public static Task ClickAsync<TComponent>(this IRenderedComponent<TComponent> cut, string testId, int index = 0)
        where TComponent : IComponent => cut.ClickSelectorAsync($"[data-testid={testId}]", index);

    /// <summary>As <see cref="ClickAsync{TComponent}"/>, for the element that a CSS selector finds.</summary>
    public static async Task ClickSelectorAsync<TComponent>(this IRenderedComponent<TComponent> cut, string selector, int index = 0)
        where TComponent : IComponent
    {
        cut.WaitForAssertion(() => cut.FindAll(selector).Count.ShouldBeGreaterThan(index, $"no {selector} number {index}"));
        await cut.InvokeAsync(() => cut.FindAll(selector)[index].ClickAsync(new MouseEventArgs()));
    }
}
