using AngleSharp.Dom;
using Bunit;
using Bunit.Rendering;
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
    public static BunitContext Create(ServiceFixture fixture, string user, string role, params System.Security.Claims.Claim[] claims)
    {
        // The pages send real commands to PostgreSQL: on a busy 2-core runner bUnit's 1 s default wait is too short.
        BunitContext.DefaultWaitTimeout = TimeSpan.FromSeconds(10);
        var context = new BunitContext();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        context.Services.AddMudServices();
        context.AddAuthorization().SetAuthorized(user).SetRoles(role).SetClaims(claims);
        context.Services.AddSingleton(fixture.Notifier);
        context.Services.AddSingleton(fixture.Services.GetRequiredService<IValidator<CreateAccount>>());
        context.Services.AddSingleton(fixture.Services.GetRequiredService<IValidator<Application.Registration.CreateRegistrationToken>>());
        context.Services.AddSingleton(fixture.Services.GetRequiredService<IValidator<Application.Users.CreateUser>>());
        context.Services.AddScoped(sp => new UiSender(
            fixture.Services.GetRequiredService<IServiceScopeFactory>(), sp.GetRequiredService<AuthenticationStateProvider>()));
        return context;
    }

    /// <summary>The input element of a MudBlazor field marked with data-testid.</summary>
    public static IElement Input(this IRenderedComponent<Microsoft.AspNetCore.Components.IComponent> cut, string testId) =>
        cut.FindAll($"input[data-testid={testId}]").FirstOrDefault() ?? cut.Find($"[data-testid={testId}] input");

    /// <summary>
    /// Clicks the <paramref name="index"/>th element marked with data-testid once it is there, and waits for its handler.
    /// A page that re-renders on its own (a change notification) can replace a button's handler between finding and
    /// clicking it; bUnit then refuses the stale handler id, nothing has run, and the element is found and clicked again.
    /// A handler that ran is never run twice, and a click that is lost fails here rather than in a later assertion.
    /// </summary>
    public static Task ClickAsync<TComponent>(this IRenderedComponent<TComponent> cut, string testId, int index = 0)
        where TComponent : IComponent => cut.ClickSelectorAsync($"[data-testid={testId}]", index);

    /// <summary>As <see cref="ClickAsync{TComponent}"/>, for the element that a CSS selector finds.</summary>
    public static async Task ClickSelectorAsync<TComponent>(this IRenderedComponent<TComponent> cut, string selector, int index = 0)
        where TComponent : IComponent
    {
        for (var attempt = 1; ; attempt++)
        {
            cut.WaitForAssertion(() => cut.FindAll(selector).Count.ShouldBeGreaterThan(index, $"no {selector} number {index}"));
            try
            {
                await cut.FindAll(selector)[index].ClickAsync(new MouseEventArgs());
                return;
            }
            catch (UnknownEventHandlerIdException) when (attempt < 20)
            {
                // The render that replaced the handler has happened; the next find sees the new one.
            }
        }
    }
}
